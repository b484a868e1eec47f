"""JSON rendered byte-for-byte like DRF's ``JSONRenderer`` (compact, UTF-8, strict).

DRF renders with ``separators=(",", ":")``, ``ensure_ascii=False``, ``allow_nan=False`` and then
escapes U+2028/U+2029; Starlette's ``JSONResponse`` differs on the first two, so a service that must
answer byte-for-byte like the monolith renders with this class.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


def render_json(content: Any) -> bytes:
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode("utf-8")


class ContractJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)
