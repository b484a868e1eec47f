"""Path converters every service routes with, registered on import: ``{id:lower_uuid}`` matches
only a lowercase hyphenated UUID (Django's ``<uuid:...>``), so any other segment there is the
unknown-URL 404, never a 405 or a 400. A router module that uses one imports this module."""

from __future__ import annotations

import uuid

from starlette.convertors import Convertor, register_url_convertor


class LowerUUIDConvertor(Convertor[uuid.UUID]):
    regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)


register_url_convertor("lower_uuid", LowerUUIDConvertor())
