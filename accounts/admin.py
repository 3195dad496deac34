"""Staff tools: users, tiers (editable, they are the plans) and API keys (never their hashes)."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiKey, Tier, User
from accounts.services.api_keys import api_key_revoke


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "name",
        "is_public",
        "monthly_price_cents",
        "monthly_credits",
        "requests_per_minute",
        "images_per_minute",
        "concurrent_jobs",
        "queue_lane",
        "max_n",
        "max_pixels",
    ]
    list_editable = [
        "monthly_credits",
        "requests_per_minute",
        "images_per_minute",
        "concurrent_jobs",
    ]
    ordering = ["sort_order"]


class UserCreationAdminForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "tier"]


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ["-date_joined"]
    list_display = ["email", "tier", "is_staff", "is_active", "date_joined", "deleted_at"]
    list_filter = ["tier", "is_staff", "is_active", "is_superuser"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["date_joined", "last_login", "deleted_at"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "tier"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["date_joined", "last_login", "deleted_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "tier", "password1", "password2"]}),
    ]
    filter_horizontal = ["groups", "user_permissions"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by their owners (the secret is shown to them once); staff only revoke."""

    list_display = ["prefix", "name", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__email"]
    # secret_hash is in no list: it is not shown, and never editable.
    fields = [
        "prefix",
        "name",
        "user",
        "scopes",
        "monthly_credit_cap",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)
        self.message_user(request, "Revoked.", messages.SUCCESS)
