"""The monolith's side of reconciliation (not a Django app: it has no models). Each app says
what it reconciles in its ``reconcile.py``; ``source`` runs the shared queries on Django's
connection, ``apis`` and ``urls`` answer ``/internal/reconcile/<aggregate>/...``."""
