"""What customers and visitors reach: appeals (signed in) and reports of shared images (anyone)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import User
from moderation.models import Appeal, Category, Report
from moderation.services.appeals import APPEAL_TEXT_MAX, appeal_create
from moderation.services.reports import REPORT_DETAILS_MAX, report_create


class AppealCreateApi(APIView):
    @extend_schema_serializer(component_name="AppealCreateInput")
    class InputSerializer(serializers.Serializer):
        decision_id = serializers.IntegerField(required=False)
        image_id = serializers.UUIDField(required=False)
        text = serializers.CharField(max_length=APPEAL_TEXT_MAX)

    @extend_schema_serializer(component_name="AppealCreateOutput")
    class OutputSerializer(serializers.ModelSerializer):
        status = serializers.SerializerMethodField()

        class Meta:
            model = Appeal
            fields = ["id", "decision_id", "image_id", "text", "status", "created_at"]

        def get_status(self, appeal: Appeal) -> str:
            """ "pending" until a person decides, then "upheld" or "overturned"."""
            case = appeal.case
            return case.resolution if case is not None and case.resolution else "pending"

    @extend_schema(
        operation_id="appeals_create",
        summary="Appeal a block or a removal",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assert isinstance(request.user, User)  # IsAuthenticated, the default permission
        appeal = appeal_create(user=request.user, **body.validated_data)
        return Response(self.OutputSerializer(appeal).data, status=status.HTTP_201_CREATED)


class ReportThrottle(SimpleRateThrottle):
    """Reports per hour, per signed-in user or per IP address for visitors."""

    scope = "moderation_reports"

    def get_rate(self) -> str:
        return f"{settings.MODERATION_ANONYMOUS_REPORTS_PER_HOUR}/hour"

    def get_cache_key(self, request: Request, view: object) -> str:
        user = request.user
        ident = f"user:{user.pk}" if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ReportCreateApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ReportThrottle]

    @extend_schema_serializer(component_name="ReportCreateInput")
    class InputSerializer(serializers.Serializer):
        image_id = serializers.UUIDField()
        reason = serializers.ChoiceField(choices=Category.choices)
        details = serializers.CharField(
            max_length=REPORT_DETAILS_MAX, required=False, default="", allow_blank=True
        )

    @extend_schema_serializer(component_name="ReportCreateOutput")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Report
            fields = ["id", "image_id", "reason", "created_at"]

    @extend_schema(
        operation_id="reports_create",
        summary="Report a shared image (no account needed)",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reporter = request.user if request.user.is_authenticated else None
        report = report_create(reporter=reporter, **body.validated_data)
        return Response(self.OutputSerializer(report).data, status=status.HTTP_201_CREATED)
