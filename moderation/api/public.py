"""What customers and visitors reach: their blocked decisions and suspensions, appeals (signed
in), and reports of shared images (anyone)."""

from django.conf import settings
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import READ_MODERATION, WRITE_MODERATION, authenticated_user
from common.pagination import PageQuerySerializer, page_body, page_schema, paginate
from moderation.models import Appeal, Category, Decision, Report, Suspension
from moderation.selectors.customer import decisions_blocked_for_user, suspensions_active_for_user
from moderation.services.appeals import APPEAL_TEXT_MAX, appeal_create
from moderation.services.enforcement import suspension_message
from moderation.services.reports import REPORT_DETAILS_MAX, report_create
from moderation.verdicts import appeal_url, message_for

# Postgres ids are 64-bit; a larger number names no row (and must not reach the database).
ID_MAX = 2**63 - 1
END_USER_MAX = 256  # the column's length


@extend_schema_serializer(component_name="Appeal")
class AppealOutputSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = Appeal
        fields = ["id", "decision_id", "image_id", "text", "status", "created_at"]

    def get_status(self, appeal: Appeal) -> str:
        """ "pending" until a person decides, then "upheld" or "overturned"."""
        case = appeal.case
        return case.resolution if case is not None and case.resolution else "pending"


class AppealCreateApi(APIView):
    permission_classes = WRITE_MODERATION

    @extend_schema_serializer(component_name="AppealCreateInput")
    class InputSerializer(serializers.Serializer):
        decision_id = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
        image_id = serializers.UUIDField(required=False)
        text = serializers.CharField(max_length=APPEAL_TEXT_MAX)

    OutputSerializer = AppealOutputSerializer

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


@extend_schema_serializer(component_name="BlockedDecision")
class BlockedDecisionOutputSerializer(serializers.ModelSerializer):
    """A blocked request as its sender may see it: the rule in words, never what fired."""

    message = serializers.SerializerMethodField()
    end_user = serializers.SerializerMethodField()
    appeal = serializers.SerializerMethodField()
    appeal_url = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "stage",
            "categories",
            "message",
            "end_user",
            "generation_id",
            "image_id",
            "overturned",
            "created_at",
            "appeal",
            "appeal_url",
        ]

    def get_message(self, decision: Decision) -> str:
        return message_for(list(decision.categories))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_end_user(self, decision: Decision) -> str | None:
        return decision.end_user or None

    @extend_schema_field(AppealOutputSerializer(allow_null=True))
    def get_appeal(self, decision: Decision) -> dict | None:
        appeals = list(decision.appeals.all())  # prefetched; at most one per user and decision
        return AppealOutputSerializer(appeals[0]).data if appeals else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_appeal_url(self, decision: Decision) -> str | None:
        """Where to POST an appeal; null once it is appealed or overturned."""
        if decision.overturned or decision.appeals.all():
            return None
        return appeal_url(decision_id=decision.pk)


class DecisionListQuerySerializer(PageQuerySerializer):
    end_user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=END_USER_MAX,
        help_text="Only this end user's (the `user` parameter of the requests); empty: only "
        "the requests sent without one.",
    )


class BlockedDecisionListApi(APIView):
    permission_classes = READ_MODERATION

    @extend_schema(
        operation_id="decisions_list",
        summary="Your blocked requests, newest first (filter by end user; cursor pagination)",
        parameters=[DecisionListQuerySerializer],
        responses=page_schema("BlockedDecisionPage", BlockedDecisionOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        query = DecisionListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        decisions = decisions_blocked_for_user(
            user=authenticated_user(request), end_user=filters.get("end_user")
        )
        page = paginate(decisions, limit=filters["limit"], cursor=filters["cursor"])
        return Response(page_body(page, serializer=BlockedDecisionOutputSerializer))


class DecisionAppealCreateApi(APIView):
    permission_classes = WRITE_MODERATION

    @extend_schema_serializer(component_name="DecisionAppealInput")
    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(
            max_length=APPEAL_TEXT_MAX, help_text="Why a person should look at it again."
        )

    @extend_schema(
        operation_id="decisions_appeal",
        summary="Appeal one of your blocked requests: a person reviews it and e-mails you",
        request=InputSerializer,
        responses={201: AppealOutputSerializer},
    )
    def post(self, request: Request, decision_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appeal = appeal_create(
            user=authenticated_user(request),
            decision_id=decision_id,
            text=body.validated_data["text"],
        )
        return Response(AppealOutputSerializer(appeal).data, status=status.HTTP_201_CREATED)


@extend_schema_serializer(component_name="Suspension")
class SuspensionOutputSerializer(serializers.ModelSerializer):
    end_user = serializers.SerializerMethodField()
    banned = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()

    class Meta:
        model = Suspension
        fields = ["id", "end_user", "banned", "ends_at", "message", "created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_end_user(self, suspension: Suspension) -> str | None:
        """The suspended end user; null when it is the whole account."""
        return suspension.end_user or None

    def get_banned(self, suspension: Suspension) -> bool:
        return suspension.ends_at is None

    def get_message(self, suspension: Suspension) -> str:
        return suspension_message(suspension)


class SuspensionListQuerySerializer(serializers.Serializer):
    end_user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=END_USER_MAX,
        help_text="Only this end user's suspensions; empty: only the account's own.",
    )


class SuspensionListApi(APIView):
    permission_classes = READ_MODERATION

    @extend_schema(
        operation_id="suspensions_list",
        summary="Suspensions in force: the account's own and its suspended end users'",
        parameters=[SuspensionListQuerySerializer],
        responses=inline_serializer(
            "SuspensionList", {"data": SuspensionOutputSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        query = SuspensionListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        suspensions = suspensions_active_for_user(
            user=authenticated_user(request), end_user=query.validated_data.get("end_user")
        )
        return Response({"data": SuspensionOutputSerializer(suspensions, many=True).data})


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
