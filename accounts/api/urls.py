"""Native API routes of accounts, mounted under /api/v1/."""

from django.urls import path

from accounts.api.views import (
    AccountDeleteApi,
    AccountDetailApi,
    ApiKeyCreateApi,
    ApiKeyListApi,
    ApiKeyRevokeApi,
)
from common.routing import method_routes

urlpatterns = [
    path(
        "account", method_routes(get=AccountDetailApi, delete=AccountDeleteApi), name="api-account"
    ),
    path("keys", method_routes(get=ApiKeyListApi, post=ApiKeyCreateApi), name="api-keys"),
    path("keys/<str:prefix>", ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
]
