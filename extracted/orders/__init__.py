"""The extracted orders service: checkout as a persisted, orchestrated saga (``saga.py``)."""
