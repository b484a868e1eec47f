"""The contract's page: ``?page=N&page_size=M`` (default 50, at most 500), absolute links."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class ContractPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
