"""Model fields the inventory schema needs beyond Django's own."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

#: Byte-order collation per database vendor: listings and keyset pages sort SKUs the same way
#: on every database (and the same way as Python sorts ``str``), whatever the server's locale.
BYTE_ORDER_COLLATIONS = {"postgresql": "C", "sqlite": "BINARY"}


class ByteOrderCharField(models.CharField):
    """A ``CharField`` whose column uses the database's byte-order collation.

    Django's ``db_collation`` takes one name for every database, and no name exists on both
    PostgreSQL and SQLite, so the collation is chosen from the connection instead.
    """

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        params = super().db_parameters(connection)
        collation = BYTE_ORDER_COLLATIONS.get(connection.vendor)
        if collation:
            params["collation"] = collation
        return params
