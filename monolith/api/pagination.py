"""The contract's page: ``?page=N&page_size=M`` (default 50, at most 500), absolute links.

The links are built on ``settings.PUBLIC_ORIGIN`` when it is set (the proxy in front, where
clients reach the API), not on the request's Host: a link then names the façade whichever owner
answered, and never a Host a client made up."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


def on_public_origin(url: str | None) -> str | None:
    """``url`` with its scheme and authority replaced by the configured public origin."""
    origin = settings.PUBLIC_ORIGIN
    if url is None or not origin:
        return url
    scheme, netloc, *_ = urlsplit(origin)
    return urlunsplit((scheme, netloc, *urlsplit(url)[2:]))


class ContractPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_next_link(self) -> str | None:
        return on_public_origin(super().get_next_link())

    def get_previous_link(self) -> str | None:
        return on_public_origin(super().get_previous_link())
