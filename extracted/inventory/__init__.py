"""The extracted inventory service: FastAPI + SQLAlchemy 2 + Alembic, owning its own database."""
