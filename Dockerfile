# One image for every process of the stack; docker-compose.yml picks the entry point per service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 STRANGLER_VAR_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY card_gateway card_gateway
COPY contracts contracts
COPY monolith monolith
COPY extracted extracted
COPY proxy proxy
COPY sync sync
COPY migrations_plan migrations_plan
COPY strangler strangler
COPY deploy deploy
RUN pip install . && mkdir -p /data
EXPOSE 8000 8101 8080 8081
