"""DRF ``PageNumberPagination`` semantics: page numbers, size clamping, absolute links.

* ``page``: the last ``page`` value, empty means 1, ``last`` means the last page; anything Python's
  ``int()`` refuses, < 1 or past the end is a 404 ``"Invalid page."`` (Django's ``Paginator``).
* ``page_size``: a positive int, clamped to the maximum; anything else means the default.
* ``next``/``previous``: the request's absolute URI as Django builds it (scheme + Host + escaped
  path + IRI-quoted query) with ``page`` replaced or removed exactly as DRF's
  ``replace_query_param``/``remove_query_param`` do.

Written here because the links must match the monolith's byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib import parse

from starlette.requests import Request

from extracted.chassis.web.errors import NotFound

PAGE_PARAM = "page"
PAGE_SIZE_PARAM = "page_size"
LAST_PAGE_STRINGS = ("last",)


def _iri_to_uri(iri: str) -> str:
    """Django's ``iri_to_uri``."""
    return parse.quote(iri, safe="/#%[]=:;$&()+,!?*@'~")


def _escape_uri_path(path: str) -> str:
    """Django's ``escape_uri_path``."""
    return parse.quote(path, safe="/:@&+$,-_.!~*'()")


def replace_query_param(url: str, key: str, value: Any) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(value)]
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def absolute_uri(request: Request) -> str:
    """Django's ``request.build_absolute_uri()`` for the current request, on the service's public
    origin when one is configured (as the monolith's ``on_public_origin``), never on a Host the
    client chose."""
    origin: str = getattr(request.app.state, "public_origin", "")
    if origin:
        scheme, host = origin.split("://", 1)
    else:
        scheme, host = request.url.scheme, request.headers.get("host", "")
    if not host:
        server = request.scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}" if server[1] not in (80, None) else str(server[0])
    path = request.scope.get("root_path", "") + request.scope["path"]
    # WSGI hands Django the raw query as latin-1 text; ASGI hands us the same bytes.
    query = request.scope.get("query_string", b"").decode("latin-1")
    location = _escape_uri_path(path) + (f"?{_iri_to_uri(query)}" if query else "")
    return _iri_to_uri(f"{scheme}://{host}{location}")


def _positive_int(text: str, *, cutoff: int) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return min(value, cutoff)


@dataclass(frozen=True)
class PageWindow:
    number: int
    size: int
    count: int
    num_pages: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def limit(self) -> int:
        return max(0, min(self.size, self.count - self.offset))

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


class PageNumberPagination:
    def __init__(self, *, page_size: int = 50, max_page_size: int = 500) -> None:
        self.page_size = page_size
        self.max_page_size = max_page_size

    def page_size_for(self, request: Request) -> int:
        raw = request.query_params.get(PAGE_SIZE_PARAM)
        if raw is None:
            return self.page_size
        try:
            return _positive_int(raw, cutoff=self.max_page_size)
        except ValueError:
            return self.page_size

    def window(self, request: Request, count: int) -> PageWindow:
        size = self.page_size_for(request)
        num_pages = math.ceil(max(1, count) / size)
        raw: Any = request.query_params.get(PAGE_PARAM) or 1
        if raw in LAST_PAGE_STRINGS:
            raw = num_pages
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise NotFound("Invalid page.") from None
        if number < 1 or number > num_pages:
            raise NotFound("Invalid page.")
        return PageWindow(number=number, size=size, count=count, num_pages=num_pages)

    def links(self, request: Request, window: PageWindow) -> tuple[str | None, str | None]:
        url = absolute_uri(request)
        next_link = (
            replace_query_param(url, PAGE_PARAM, window.number + 1) if window.has_next else None
        )
        if not window.has_previous:
            previous_link = None
        elif window.number - 1 == 1:
            previous_link = remove_query_param(url, PAGE_PARAM)
        else:
            previous_link = replace_query_param(url, PAGE_PARAM, window.number - 1)
        return next_link, previous_link

    def paginate(
        self,
        request: Request,
        *,
        count: Callable[[], int],
        fetch: Callable[[int, int], Sequence[Any]],
        render: Callable[[Any], Any],
    ) -> dict[str, Any]:
        """The page body: ``count``, ``next``, ``previous``, ``results``."""
        total = count()
        window = self.window(request, total)
        rows = fetch(window.offset, window.limit) if window.limit else []
        next_link, previous_link = self.links(request, window)
        return {
            "count": total,
            "next": next_link,
            "previous": previous_link,
            "results": [render(row) for row in rows],
        }
