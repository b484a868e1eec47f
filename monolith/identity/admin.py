from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from monolith.identity.models import TokenRevocation, User

admin.site.register(User, UserAdmin)


@admin.register(TokenRevocation)
class TokenRevocationAdmin(admin.ModelAdmin):
    """Read-only: a revocation is written by the account change that causes it (models.py)."""

    list_display = ("sub", "revoked_at")
    search_fields = ("sub",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: TokenRevocation | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: TokenRevocation | None = None
    ) -> bool:
        return False
