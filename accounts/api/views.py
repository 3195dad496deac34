"""The native API of accounts: the signed-in account, and its API keys. Views stay thin."""

from allauth.account.models import EmailAddress
from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import (
    READ_ACCOUNT,
    READ_KEYS,
    SESSION_ONLY,
    WRITE_KEYS,
    authenticated_user,
    request_scopes,
)
from accounts.selectors import api_key_get_for_user, api_keys_for_user, size_label
from accounts.services.api_keys import (
    DEFAULT_SCOPES,
    MONTHLY_CREDIT_CAP_MAX,
    api_key_create,
    api_key_revoke,
)
from accounts.services.users import user_delete
from common.errors import InvalidRequest, PermissionDenied


@extend_schema_serializer(component_name="ApiKey")
class ApiKeyOutputSerializer(serializers.ModelSerializer):
    """What any list shows of a key: never its secret, never its hash."""

    class Meta:
        model = ApiKey
        fields = [
            "prefix",
            "name",
            "scopes",
            "monthly_credit_cap",
            "expires_at",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]


class ApiKeyListApi(APIView):
    permission_classes = READ_KEYS
    OutputSerializer = ApiKeyOutputSerializer

    @extend_schema(
        operation_id="api_keys_list",
        summary="List your active API keys",
        responses=inline_serializer("ApiKeyList", {"data": ApiKeyOutputSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        keys = api_keys_for_user(user=authenticated_user(request))
        return Response({"data": self.OutputSerializer(keys, many=True).data})


class ApiKeyCreateApi(APIView):
    permission_classes = WRITE_KEYS

    @extend_schema_serializer(component_name="ApiKeyCreateRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=ApiKey.Scope.values),
            required=False,
            help_text="Default: images.generate, images.read, moderation.read, "
            "moderation.write. Keys, webhooks, billing and the account need their scopes named.",
        )
        monthly_credit_cap = serializers.IntegerField(
            min_value=0, max_value=MONTHLY_CREDIT_CAP_MAX, required=False, allow_null=True
        )
        expires_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="When the key stops working (ISO 8601, in the future); default: never.",
        )

    @extend_schema_serializer(component_name="ApiKeyCreated")
    class OutputSerializer(ApiKeyOutputSerializer):
        secret = serializers.SerializerMethodField()

        class Meta(ApiKeyOutputSerializer.Meta):
            fields = [*ApiKeyOutputSerializer.Meta.fields, "secret"]

        def get_secret(self, key: ApiKey) -> str:
            return self.context["secret"]

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key; its secret is in this response only",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scopes = serializer.validated_data.get("scopes")
        _check_no_scope_escalation(request=request, scopes=scopes)
        created = api_key_create(
            user=authenticated_user(request),
            name=serializer.validated_data["name"],
            scopes=scopes,
            monthly_credit_cap=serializer.validated_data.get("monthly_credit_cap"),
            expires_at=serializer.validated_data.get("expires_at"),
        )
        output = self.OutputSerializer(created.key, context={"secret": created.secret})
        return Response(output.data, status=status.HTTP_201_CREATED)


def _check_no_scope_escalation(*, request: Request, scopes: list[str] | None) -> None:
    """A key may make keys, but none that can do more than itself."""
    wanted = set(scopes) if scopes is not None else set(DEFAULT_SCOPES)
    beyond = sorted(wanted - request_scopes(request))
    if beyond:
        raise PermissionDenied(
            f"This API key cannot create a key with scopes it lacks: {', '.join(beyond)}.",
            param="scopes",
        )


class ApiKeyRevokeApi(APIView):
    permission_classes = WRITE_KEYS

    @extend_schema(
        operation_id="api_keys_revoke",
        summary="Revoke an API key (effective on its next request)",
        request=None,
        responses={200: ApiKeyOutputSerializer},
    )
    def delete(self, request: Request, prefix: str) -> Response:
        key = api_key_get_for_user(user=authenticated_user(request), prefix=prefix)
        key = api_key_revoke(key=key)
        return Response(ApiKeyOutputSerializer(key).data)


class AccountDetailApi(APIView):
    permission_classes = READ_ACCOUNT

    @extend_schema_serializer(component_name="Account")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="AccountTier")
        class TierSerializer(serializers.Serializer):
            name = serializers.CharField()
            display_name = serializers.CharField()
            monthly_credits = serializers.IntegerField()
            requests_per_minute = serializers.IntegerField()
            images_per_minute = serializers.IntegerField()
            concurrent_jobs = serializers.IntegerField()
            max_n = serializers.IntegerField()
            max_pixels = serializers.IntegerField()
            sizes = serializers.SerializerMethodField()
            uploads_allowed = serializers.BooleanField()
            private_images_allowed = serializers.BooleanField()

            def get_sizes(self, tier) -> list[str]:  # type: ignore[no-untyped-def]
                return [size_label(pixels) for pixels in sorted(tier.allowed_sizes)]

        email = serializers.EmailField()
        display_name = serializers.CharField()
        email_verified = serializers.BooleanField()
        two_factor_enabled = serializers.BooleanField()
        date_joined = serializers.DateTimeField()
        tier = TierSerializer()

    @extend_schema(
        operation_id="account_retrieve",
        summary="Your account and what your tier allows",
        responses=OutputSerializer,
    )
    def get(self, request: Request) -> Response:
        user = authenticated_user(request)
        account = {
            "email": user.email,
            "display_name": user.display_name,
            "email_verified": EmailAddress.objects.filter(
                user=user, email__iexact=user.email, verified=True
            ).exists(),
            "two_factor_enabled": is_mfa_enabled(user),
            "date_joined": user.date_joined,
            "tier": user.tier,
        }
        return Response(self.OutputSerializer(account).data)


class AccountDeleteApi(APIView):
    # A leaked key must not be able to erase an account and its images.
    permission_classes = SESSION_ONLY

    @extend_schema_serializer(component_name="AccountDeleteRequest")
    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    @extend_schema(
        operation_id="account_delete",
        summary="Delete your account (web session only; asks for your password)",
        request=InputSerializer,
        responses={204: None},
    )
    def delete(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticated_user(request)
        if user.has_usable_password() and not user.check_password(
            serializer.validated_data.get("password", "")
        ):
            raise InvalidRequest(
                "Enter your current password to delete your account.",
                param="password",
                code="incorrect_password",
            )
        user_delete(user=user)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
