"""Content negotiation that always answers JSON.

The contract has one representation; DRF's default negotiation would answer 406 to
``Accept: text/html``, which the contract (and the extracted service) never does. Parsers are
still chosen by ``Content-Type`` as DRF does, so other bodies stay a 415.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JsonOnlyNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type
