"""The card gateway as the monolith's payments see it: ``card_gateway.fake``, the one source of
truth shared with the extracted payments service (docs/payments-api.md, the fake gateway)."""

from __future__ import annotations

from card_gateway.fake import (
    APPROVING_TOKENS,
    CARD_TOKEN_MAX_LENGTH,
    CARD_TOKEN_PATTERN,
    MAX_SLOW_MS,
    UNKNOWN_CARD,
    Approved,
    Charge,
    Declined,
    GatewayError,
    GatewayOutcome,
    MalformedCardToken,
    gateway_authorize,
    gateway_charge_count,
    gateway_charges,
    gateway_reference,
    is_card_token,
)

__all__ = [
    "APPROVING_TOKENS",
    "CARD_TOKEN_MAX_LENGTH",
    "CARD_TOKEN_PATTERN",
    "MAX_SLOW_MS",
    "UNKNOWN_CARD",
    "Approved",
    "Charge",
    "Declined",
    "GatewayError",
    "GatewayOutcome",
    "MalformedCardToken",
    "gateway_authorize",
    "gateway_charge_count",
    "gateway_charges",
    "gateway_reference",
    "is_card_token",
]
