"""The staff console's API under /api/v1/staff/: staff only, two-factor required, session only.

Session only: an API key would let a script act as staff without the two-factor login the
console requires. Views stay thin: validate, call one service or selector, serialise.
"""

import datetime
from collections.abc import Callable

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from PIL import Image as PILImage
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsStaffWithTwoFactor
from moderation.api.paging import PageInputSerializer, page, page_schema
from moderation.api.serializers import (
    AuditLogEntryOutputSerializer,
    CaseDetailOutputSerializer,
    CaseOutputSerializer,
    DecisionOutputSerializer,
    FigureOutputSerializer,
    PolicyVersionOutputSerializer,
    StrikeOutputSerializer,
    SuspensionOutputSerializer,
)
from moderation.models import Case, Category, Decision, Outcome
from moderation.policy import policy_current
from moderation.selectors import console
from moderation.selectors.cases import case_get, cases_queue
from moderation.selectors.transparency import transparency_figures
from moderation.services import cases, enforcement
from moderation.services.figures import ReferencePhoto, figure_add
from moderation.services.policy import policy_update

TRANSPARENCY_DEFAULT_WEEKS = 12


class StaffApi(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsStaffWithTwoFactor]

    @staticmethod
    def staff(request: Request) -> User:
        """The signed-in staff member (the permission let only them through)."""
        assert isinstance(request.user, User)
        return request.user

    def filtered_page(
        self,
        request: Request,
        *,
        select: Callable[..., QuerySet],
        serializer: type[serializers.Serializer],
    ) -> Response:
        """A filtered list: the view's InputSerializer checks the query string's filters, `select`
        takes them as keyword arguments, and one page of what it returns is answered."""
        filters = self.InputSerializer(data=request.query_params)  # type: ignore[attr-defined]
        filters.is_valid(raise_exception=True)
        rows = select(**filters.validated_data)
        return Response(page(request=request, queryset=rows, serializer=serializer))


@extend_schema_serializer(component_name="StaffReasonInput")
class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


# --- cases -----------------------------------------------------------------------------------


class CaseListApi(StaffApi):
    @extend_schema_serializer(component_name="StaffCaseListInput")
    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Case.State.choices, required=False)
        category = serializers.ChoiceField(choices=Category.choices, required=False)
        source = serializers.ChoiceField(  # type: ignore[assignment]  # a field, not Field.source
            choices=Case.Source.choices, required=False
        )
        assignee_id = serializers.IntegerField(required=False)

    @extend_schema(
        operation_id="staff_cases_list",
        summary="The review queue",
        parameters=[InputSerializer, PageInputSerializer],
        responses=page_schema("StaffCasePage", CaseOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        state = data.pop("state", None)
        queue = cases_queue(states=[state] if state else None, **data)
        return Response(page(request=request, queryset=queue, serializer=CaseOutputSerializer))


class CaseDetailApi(StaffApi):
    @extend_schema(operation_id="staff_cases_get", responses=CaseDetailOutputSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        return Response(CaseDetailOutputSerializer(case_get(case_id=case_id)).data)


class CaseClaimApi(StaffApi):
    @extend_schema(operation_id="staff_cases_claim", request=None, responses=CaseOutputSerializer)
    def post(self, request: Request, case_id: int) -> Response:
        case = cases.case_claim(case_id=case_id, actor=self.staff(request))
        return Response(CaseOutputSerializer(case).data)


class CaseReleaseApi(StaffApi):
    @extend_schema_serializer(component_name="StaffCaseReleaseInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000, default="", allow_blank=True)

    @extend_schema(
        operation_id="staff_cases_release", request=InputSerializer, responses=CaseOutputSerializer
    )
    def post(self, request: Request, case_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        case = cases.case_release(case_id=case_id, actor=self.staff(request), **body.validated_data)
        return Response(CaseOutputSerializer(case).data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "approve"},
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1},
                    "end_user": {"type": "string"},
                },
                "required": ["type"],
            },
        ]
    }
)
class CaseActionField(serializers.Field):
    """An action as a name ("approve") or an object ({"type": "suspend", "days": 7})."""

    def to_internal_value(self, data: object) -> cases.CaseAction:
        if isinstance(data, str):
            data = {"type": data}
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise serializers.ValidationError("An action is a name or an object with a 'type'.")
        unknown = set(data) - {"type", "days", "end_user"}
        if unknown:
            raise serializers.ValidationError(
                f"Unknown action fields: {', '.join(sorted(unknown))}."
            )
        days, end_user = data.get("days"), data.get("end_user", "")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
            raise serializers.ValidationError("'days' must be a whole number.")
        if not isinstance(end_user, str) or len(end_user) > 256:
            raise serializers.ValidationError(
                "'end_user' must be a string of at most 256 characters."
            )
        known = {name for names in cases.ACTIONS_BY_RESOLUTION.values() for name in names}
        if data["type"] not in known:
            raise serializers.ValidationError(
                f"Unknown action '{data['type']}' (one of: {', '.join(sorted(known))})."
            )
        return cases.CaseAction(type=data["type"], days=days, end_user=end_user)

    def to_representation(self, value: cases.CaseAction) -> dict:
        return value.as_dict()


class CaseResolveApi(StaffApi):
    @extend_schema_serializer(component_name="StaffCaseResolveInput")
    class InputSerializer(ReasonInputSerializer):
        resolution = serializers.ChoiceField(choices=Case.Resolution.choices)
        actions = serializers.ListField(child=CaseActionField(), default=list, max_length=10)

    @extend_schema(
        operation_id="staff_cases_resolve", request=InputSerializer, responses=CaseOutputSerializer
    )
    def post(self, request: Request, case_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        case = cases.case_resolve(case_id=case_id, actor=self.staff(request), **body.validated_data)
        return Response(CaseOutputSerializer(case).data)


# --- decisions -------------------------------------------------------------------------------


class DecisionListApi(StaffApi):
    @extend_schema_serializer(component_name="StaffDecisionListInput")
    class InputSerializer(serializers.Serializer):
        stage = serializers.ChoiceField(choices=Decision.Stage.choices, required=False)
        outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
        category = serializers.ChoiceField(choices=Category.choices, required=False)
        user_id = serializers.IntegerField(required=False)
        overturned = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        operation_id="staff_decisions_list",
        summary="Screening decisions, newest first",
        parameters=[InputSerializer, PageInputSerializer],
        responses=page_schema("StaffDecisionPage", DecisionOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        return self.filtered_page(
            request, select=console.decisions_list, serializer=DecisionOutputSerializer
        )


class DecisionDetailApi(StaffApi):
    @extend_schema(operation_id="staff_decisions_get", responses=DecisionOutputSerializer)
    def get(self, request: Request, decision_id: int) -> Response:
        return Response(
            DecisionOutputSerializer(console.decision_get(decision_id=decision_id)).data
        )


# --- users: strikes, suspensions, warnings ---------------------------------------------------


class UserStandingApi(StaffApi):
    @extend_schema(
        operation_id="staff_users_get",
        summary="An account's standing",
        responses=inline_serializer(
            "StaffUserStanding",
            {
                "id": serializers.IntegerField(),
                "email": serializers.EmailField(),
                "tier": serializers.CharField(),
                "is_active": serializers.BooleanField(),
                "date_joined": serializers.DateTimeField(),
                "strikes_in_window": serializers.IntegerField(),
                "strikes_in_window_all_end_users": serializers.IntegerField(),
                "strikes_in_window_per_end_user": serializers.DictField(
                    child=serializers.IntegerField()
                ),
                "strikes_total": serializers.IntegerField(),
                "open_cases": serializers.IntegerField(),
                "active_suspension": SuspensionOutputSerializer(allow_null=True),
            },
        ),
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = console.user_get(user_id=user_id)
        standing = console.user_standing(user=user)
        active = standing.pop("active_suspension")
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "tier": user.tier.name,
                "is_active": user.is_active,
                "date_joined": user.date_joined,
                **standing,
                "active_suspension": SuspensionOutputSerializer(active).data if active else None,
            }
        )


class UserStrikeListApi(StaffApi):
    @extend_schema(
        operation_id="staff_users_strikes",
        parameters=[PageInputSerializer],
        responses=page_schema("StaffStrikePage", StrikeOutputSerializer),
    )
    def get(self, request: Request, user_id: int) -> Response:
        strikes = console.strikes_for_user(user=console.user_get(user_id=user_id))
        return Response(page(request=request, queryset=strikes, serializer=StrikeOutputSerializer))


class UserSuspensionListApi(StaffApi):
    @extend_schema(
        operation_id="staff_users_suspensions",
        parameters=[PageInputSerializer],
        responses=page_schema("StaffSuspensionPage", SuspensionOutputSerializer),
    )
    def get(self, request: Request, user_id: int) -> Response:
        suspensions = console.suspensions_for_user(user=console.user_get(user_id=user_id))
        return Response(
            page(request=request, queryset=suspensions, serializer=SuspensionOutputSerializer)
        )


class UserSuspendApi(StaffApi):
    @extend_schema_serializer(component_name="StaffUserSuspendInput")
    class InputSerializer(ReasonInputSerializer):
        days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
        ban = serializers.BooleanField(default=False)
        end_user = serializers.CharField(
            max_length=256, required=False, default="", allow_blank=True
        )

        def validate(self, data: dict) -> dict:
            if data["ban"] == ("days" in data):
                raise serializers.ValidationError(
                    "Give either 'days' (a suspension) or 'ban': true."
                )
            return data

    @extend_schema(
        operation_id="staff_users_suspend",
        summary="Suspend for a number of days, or ban",
        request=InputSerializer,
        responses={201: SuspensionOutputSerializer},
    )
    def post(self, request: Request, user_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        suspension = enforcement.suspension_for_days(
            user=console.user_get(user_id=user_id),
            days=None if data["ban"] else data["days"],
            reason=data["reason"],
            actor=self.staff(request),
            end_user=data["end_user"],
        )
        return Response(SuspensionOutputSerializer(suspension).data, status=status.HTTP_201_CREATED)


class UserWarnApi(StaffApi):
    @extend_schema(
        operation_id="staff_users_warn",
        request=ReasonInputSerializer,
        responses=inline_serializer("StaffUserWarned", {"warned": serializers.BooleanField()}),
    )
    def post(self, request: Request, user_id: int) -> Response:
        body = ReasonInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        enforcement.user_warn(
            user=console.user_get(user_id=user_id), actor=self.staff(request), **body.validated_data
        )
        return Response({"warned": True})


class SuspensionLiftApi(StaffApi):
    @extend_schema(
        operation_id="staff_suspensions_lift",
        request=ReasonInputSerializer,
        responses=SuspensionOutputSerializer,
    )
    def post(self, request: Request, suspension_id: int) -> Response:
        body = ReasonInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        suspension = enforcement.suspension_lift(
            suspension_id=suspension_id, actor=self.staff(request), **body.validated_data
        )
        return Response(SuspensionOutputSerializer(suspension).data)


# --- registry and policy ---------------------------------------------------------------------


class FigureListApi(StaffApi):
    @extend_schema_serializer(component_name="StaffFigureListInput")
    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    @extend_schema(
        operation_id="staff_figures_list",
        summary="List or search the registry",
        parameters=[InputSerializer, PageInputSerializer],
        responses=page_schema("StaffFigurePage", FigureOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        figures = console.figures_search(query=filters.validated_data["q"])
        return Response(page(request=request, queryset=figures, serializer=FigureOutputSerializer))


class FigureAddApi(StaffApi):
    """JSON, or multipart with `photos` files: each must show exactly one face."""

    @extend_schema_serializer(component_name="StaffFigureAddInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        aliases = serializers.ListField(
            child=serializers.CharField(max_length=200), default=list, max_length=50
        )
        ambiguous_aliases = serializers.ListField(
            child=serializers.CharField(max_length=200), default=list, max_length=50
        )
        category = serializers.CharField(max_length=64, default="", allow_blank=True)
        photos = serializers.ListField(child=serializers.ImageField(), default=list, max_length=10)

    @extend_schema(
        operation_id="staff_figures_add",
        summary="Add a public figure (or aliases and photos to one)",
        request=InputSerializer,
        responses={201: FigureOutputSerializer},
    )
    def post(self, request: Request) -> Response:

        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        photos = [
            ReferencePhoto(image=PILImage.open(upload).convert("RGB"), source_name=upload.name)
            for upload in data.pop("photos")
        ]
        figure = figure_add(actor=self.staff(request), photos=photos, **data)
        figure = console.figures_search().get(pk=figure.pk)  # with its face count
        return Response(FigureOutputSerializer(figure).data, status=status.HTTP_201_CREATED)


class PolicyCurrentApi(StaffApi):
    @extend_schema(operation_id="staff_policy_get", responses=PolicyVersionOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(PolicyVersionOutputSerializer(policy_current()).data)


class PolicyUpdateApi(StaffApi):
    @extend_schema_serializer(component_name="StaffPolicyUpdateInput")
    class InputSerializer(ReasonInputSerializer):
        rules = serializers.DictField()

    @extend_schema(
        operation_id="staff_policy_update",
        summary="Change the policy: a new version",
        request=InputSerializer,
        responses={201: PolicyVersionOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = policy_update(actor=self.staff(request), **body.validated_data)
        return Response(PolicyVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class PolicyHistoryApi(StaffApi):
    @extend_schema(
        operation_id="staff_policy_history",
        parameters=[PageInputSerializer],
        responses=page_schema("StaffPolicyVersionPage", PolicyVersionOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        versions = console.policy_history()
        return Response(
            page(request=request, queryset=versions, serializer=PolicyVersionOutputSerializer)
        )


# --- transparency and audit ------------------------------------------------------------------


class TransparencyApi(StaffApi):
    @extend_schema_serializer(component_name="StaffTransparencyInput")
    class InputSerializer(serializers.Serializer):
        since = serializers.DateField(required=False)

    @extend_schema(
        operation_id="staff_transparency",
        summary="Transparency figures per week",
        parameters=[InputSerializer],
        responses=inline_serializer(
            "StaffTransparency",
            {
                "since": serializers.DateField(),
                "data": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        default = timezone.now().date() - datetime.timedelta(weeks=TRANSPARENCY_DEFAULT_WEEKS)
        since = params.validated_data.get("since", default)
        rows = transparency_figures(since=since)
        return Response({"since": since.isoformat(), "data": [row.as_dict() for row in rows]})


class AuditLogApi(StaffApi):
    @extend_schema_serializer(component_name="StaffAuditLogInput")
    class InputSerializer(serializers.Serializer):
        actor_id = serializers.IntegerField(required=False)
        action = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
        target_type = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=64
        )
        target_id = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=64
        )
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="staff_audit_log",
        summary="The audit log, newest first",
        parameters=[InputSerializer, PageInputSerializer],
        responses=page_schema("StaffAuditLogPage", AuditLogEntryOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        return self.filtered_page(
            request, select=console.audit_log, serializer=AuditLogEntryOutputSerializer
        )
