"""WSGI entry point: ``gunicorn monolith.wsgi:application``.

Once the application is loaded (the URLconf too, so every view, serializer and model module is
imported), the objects that exist are the process's for good: ``gc.freeze()`` moves them out of
the cyclic collector's reach, so the full collections that a request's cyclic garbage triggers
do not walk them each time: a small saving, but on every request. Only what exists at startup
is frozen; what requests create is collected as usual.

Each server process also runs the recovery pass of the orders' remote writes in a daemon thread
(``monolith/orders/order_recovery.py`` says why there): once at start, then every
``ORDERS_RECOVERY_INTERVAL_S``.
"""

from __future__ import annotations

import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")

application = get_wsgi_application()

from monolith.orders.order_recovery import RecoveryLoop  # noqa: E402  (models: after setup)

RecoveryLoop(interval_s=settings.ORDERS_RECOVERY_INTERVAL_S).start()

# Import the URLconf (every view, serializer and model module) now, not at the first request.
get_resolver().url_patterns  # noqa: B018
gc.freeze()
