"""How a view that honours ``Idempotency-Key`` describes it in the OpenAPI contract."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from monolith.api.schema import ErrorSerializer

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="1..255 visible ASCII characters; the same key and request answer once.",
)

KEY_REUSED = OpenApiResponse(
    ErrorSerializer, description="`idempotency_key_reused`: the key named another request."
)
