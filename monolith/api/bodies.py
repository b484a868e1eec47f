"""Reading a request's JSON body the contract's way."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings


def request_body(request: Request) -> Any:
    """``request.data``, with a JSON ``null`` refused like every other non-object body.

    DRF alone answers ``null`` with "No data provided"; the contract names the type as it does
    for ``list``, ``str`` and the rest ("... but got NoneType.").
    """
    data = request.data
    if data is None:
        raise ValidationError(
            {
                api_settings.NON_FIELD_ERRORS_KEY: [
                    "Invalid data. Expected a dictionary, but got NoneType."
                ]
            }
        )
    return data
