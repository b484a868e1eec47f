"""``POST /internal/identity/revocations``: the revocation list the services fetch
(``contracts.revocations``). A read, but a ``POST``: it names accounts, so like every internal
request that is not a ``GET`` it needs the sync token (``contracts.sync_token``). The body, if
any, is ignored."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from monolith.api.internal import InternalApi
from monolith.identity.revocation import revocation_list


class RevocationListApi(InternalApi):
    def post(self, request: Request) -> Response:
        return Response(revocation_list().model_dump(mode="json"))
