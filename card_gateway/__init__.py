"""The card gateway: a third party we own, deterministic and local (``fake.py``).

Both the monolith's payments and the extracted payments service call it; neither owns it, so it
lives here, outside both, and imports nothing of the project.
"""
