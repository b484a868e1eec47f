"""The orders service's HTTP API: one router per resource, thin over saga.py and selectors.py."""
