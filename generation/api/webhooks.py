"""Native API: webhook endpoints (per account or per key), their delivery log, and replay."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import READ_WEBHOOKS, WRITE_WEBHOOKS, authenticated_user
from accounts.selectors import api_key_get_for_user
from common.pagination import PageQuerySerializer, page_body, page_schema, paginate
from generation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from generation.selectors.webhooks import (
    webhook_deliveries_for_endpoint,
    webhook_delivery_get_for_user,
    webhook_endpoint_get_for_user,
    webhook_endpoints_for_user,
)
from generation.services.webhooks import (
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)


@extend_schema_serializer(component_name="WebhookEndpoint")
class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    api_key = serializers.SerializerMethodField(help_text="The key's prefix; null: every key.")
    secret = serializers.CharField(help_text="Verifies the Easel-Signature header (docs/api.md).")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "api_key", "secret", "is_active", "created_at"]

    def get_api_key(self, endpoint: WebhookEndpoint) -> str | None:
        return endpoint.api_key.prefix if endpoint.api_key else None


@extend_schema_serializer(component_name="WebhookAttempt")
class WebhookAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["created_at", "status_code", "error", "duration_ms"]


@extend_schema_serializer(component_name="WebhookDelivery")
class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    attempt_log = WebhookAttemptOutputSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "event_id",
            "payload",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]


class WebhookEndpointListApi(APIView):
    permission_classes = READ_WEBHOOKS

    @extend_schema(
        operation_id="webhooks_list",
        summary="List your webhook endpoints",
        responses=inline_serializer(
            "WebhookEndpointList", {"data": WebhookEndpointOutputSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        endpoints = webhook_endpoints_for_user(user=authenticated_user(request))
        return Response({"data": WebhookEndpointOutputSerializer(endpoints, many=True).data})


class WebhookEndpointCreateApi(APIView):
    permission_classes = WRITE_WEBHOOKS

    @extend_schema_serializer(component_name="WebhookEndpointCreateRequest")
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000, help_text="https:// URL that receives events.")
        api_key = serializers.CharField(
            required=False, allow_null=True, help_text="A key's prefix: only that key's jobs."
        )

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add a webhook endpoint (for the account, or for one API key)",
        request=InputSerializer,
        responses={201: WebhookEndpointOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prefix = serializer.validated_data.get("api_key")
        api_key = (
            api_key_get_for_user(user=authenticated_user(request), prefix=prefix)
            if prefix
            else None
        )
        endpoint = webhook_endpoint_create(
            user=authenticated_user(request), url=serializer.validated_data["url"], api_key=api_key
        )
        return Response(
            WebhookEndpointOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class WebhookEndpointDetailApi(APIView):
    permission_classes = READ_WEBHOOKS

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook endpoint",
        responses=WebhookEndpointOutputSerializer,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_get_for_user(
            user=authenticated_user(request), endpoint_id=endpoint_id
        )
        return Response(WebhookEndpointOutputSerializer(endpoint).data)


class WebhookEndpointUpdateApi(APIView):
    permission_classes = WRITE_WEBHOOKS

    @extend_schema_serializer(component_name="WebhookEndpointUpdateRequest")
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000, required=False)
        is_active = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint's URL or pause it",
        request=InputSerializer,
        responses=WebhookEndpointOutputSerializer,
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_get_for_user(
            user=authenticated_user(request), endpoint_id=endpoint_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointOutputSerializer(endpoint).data)


class WebhookEndpointDeleteApi(APIView):
    permission_classes = WRITE_WEBHOOKS

    @extend_schema(
        operation_id="webhooks_delete", summary="Remove a webhook endpoint", responses={204: None}
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_get_for_user(
            user=authenticated_user(request), endpoint_id=endpoint_id
        )
        webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(APIView):
    permission_classes = READ_WEBHOOKS

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="The endpoint's delivery log, newest first, with every try",
        parameters=[PageQuerySerializer],
        responses=page_schema("WebhookDeliveryPage", WebhookDeliveryOutputSerializer),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_get_for_user(
            user=authenticated_user(request), endpoint_id=endpoint_id
        )
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = paginate(webhook_deliveries_for_endpoint(endpoint=endpoint), **query.validated_data)
        return Response(page_body(page, serializer=WebhookDeliveryOutputSerializer))


class WebhookDeliveryReplayApi(APIView):
    permission_classes = WRITE_WEBHOOKS

    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        summary="Send a delivery's event again (a new delivery, same event id in the payload)",
        request=None,
        responses={202: WebhookDeliveryOutputSerializer},
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        delivery = webhook_delivery_get_for_user(
            user=authenticated_user(request), delivery_id=delivery_id
        )
        replay = webhook_delivery_replay(delivery=delivery)
        return Response(
            WebhookDeliveryOutputSerializer(replay).data, status=status.HTTP_202_ACCEPTED
        )
