"""How the OpenAPI contract (``contracts/openapi.yaml``) is generated from the views.

Views follow one shape (nested ``InputSerializer`` / ``OutputSerializer``), so the schema reads
them from there instead of repeating them in every ``@extend_schema``; a decorator is needed only
where a view differs (list pages, status codes, extra error bodies). Every operation also
documents the refusals every view can give: 400 (body), 401 (authenticated views), 403 (the writes
of a ``StaffWrites`` view, whose reads are public), 404 (a path parameter names something).
"""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from contracts.tokens import UNAUTHENTICATED_BODY
from monolith.identity.staff_writes import StaffWrites


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable code, e.g. `not_found`.")
    detail = serializers.CharField(help_text="One sentence for people.")


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(  # type: ignore[assignment]  # the body key is "fields"
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages by dotted field path, e.g. `{"lines.0.quantity": [...]}`.',
    )


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="1-based page number."),
    OpenApiParameter("page_size", int, description="Rows per page (default 50, at most 500)."),
]


def paginated(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The contract's page of ``item`` rows as a named component."""
    page = type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
    return page


_REFUSALS: dict[str, tuple[type[serializers.Serializer], str]] = {
    "400": (ValidationErrorSerializer, "Invalid input (`validation_error`) or malformed JSON."),
    "401": (
        ErrorSerializer,
        f"`{UNAUTHENTICATED_BODY['error']}`: the one body of every refused token.",
    ),
    "404": (ErrorSerializer, "`not_found`: unknown, or not yours."),
}


def only_the_public_api(endpoints: list[Any], **_: Any) -> list[Any]:
    """``PREPROCESSING_HOOKS``: the contract is ``/api/``; health and ``/internal/`` are not."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


class ContractAutoSchema(AutoSchema):
    def get_description(self) -> str:  # type: ignore[override]  # spectacular takes no args
        """The method's docstring, else the view's own (never one inherited from a base view)."""
        method = getattr(self.view, self.method.lower(), None)
        own = method.__doc__ if method is not None else None
        return inspect.cleandoc(own or type(self.view).__dict__.get("__doc__") or "")

    def _staff_writes(self) -> StaffWrites | None:
        """The view's ``StaffWrites`` permission, if it has one."""
        found = (p for p in self.view.get_permissions() if isinstance(p, StaffWrites))
        return next(found, None)

    def _public_read(self) -> bool:
        """A read of a ``StaffWrites`` view: credentials are never looked at."""
        return self.method in SAFE_METHODS and self._staff_writes() is not None

    def get_auth(self) -> list[dict[str, Any]]:
        return [{}] if self._public_read() else list(super().get_auth())

    def get_request_serializer(self) -> Any:
        if self.method in {"POST", "PUT", "PATCH"}:
            return getattr(self.view, "InputSerializer", None)
        return None

    def get_response_serializers(self) -> Any:
        return getattr(self.view, "OutputSerializer", None)

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        wanted = []
        if self.get_request_serializer() is not None:
            wanted.append("400")
        if not self._public_read() and any(
            auth.__class__.__name__ == "BearerTokenAuthentication"
            for auth in self.view.get_authenticators()
        ):
            wanted.append("401")
        refusals = dict(_REFUSALS)
        staff_writes = self._staff_writes()
        if staff_writes is not None and not self._public_read():
            wanted.append("403")
            refusals["403"] = (ErrorSerializer, f"`permission_denied`: {staff_writes.message}")
        if "{" in self.path:
            wanted.append("404")
        for code in wanted:
            if code not in bodies:
                serializer, description = refusals[code]
                bodies[code] = self._get_response_for_code(
                    OpenApiResponse(serializer, description=description), code, direction=direction
                )
        return dict(sorted(bodies.items()))

    def _get_serializer_name(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> str:
        """Nested serializers are named after their view: ``TokenCreateApi.InputSerializer`` ->
        ``TokenCreateInput`` (spectacular would call every one of them ``Input``)."""
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        if "." in cls.__qualname__ and "<locals>" not in cls.__qualname__:
            parts = cls.__qualname__.split(".")
            name = "".join(part.removesuffix("Serializer").removesuffix("Api") for part in parts)
            return name
        return str(super()._get_serializer_name(serializer, direction, bypass_extensions))


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "monolith.identity.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"}
