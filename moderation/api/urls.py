"""Native API routes of moderation, mounted under /api/v1/: the staff console's API under
staff/, and the appeals and reports customers and visitors send."""

from django.urls import path

from common.routing import method_routes
from moderation.api import likeness, public, staff

urlpatterns = [
    path("appeals", public.AppealCreateApi.as_view(), name="api-appeals"),
    path("decisions", public.BlockedDecisionListApi.as_view(), name="api-decisions"),
    path(
        "decisions/<int:decision_id>/appeal",
        public.DecisionAppealCreateApi.as_view(),
        name="api-decision-appeal",
    ),
    path("suspensions", public.SuspensionListApi.as_view(), name="api-suspensions"),
    path("reports", public.ReportCreateApi.as_view(), name="api-reports"),
    path("staff/cases", staff.CaseListApi.as_view(), name="api-staff-cases"),
    path("staff/cases/<int:case_id>", staff.CaseDetailApi.as_view(), name="api-staff-case"),
    path(
        "staff/cases/<int:case_id>/claim", staff.CaseClaimApi.as_view(), name="api-staff-case-claim"
    ),
    path(
        "staff/cases/<int:case_id>/release",
        staff.CaseReleaseApi.as_view(),
        name="api-staff-case-release",
    ),
    path(
        "staff/cases/<int:case_id>/resolve",
        staff.CaseResolveApi.as_view(),
        name="api-staff-case-resolve",
    ),
    path("staff/decisions", staff.DecisionListApi.as_view(), name="api-staff-decisions"),
    path(
        "staff/decisions/<int:decision_id>",
        staff.DecisionDetailApi.as_view(),
        name="api-staff-decision",
    ),
    path("staff/users/<int:user_id>", staff.UserStandingApi.as_view(), name="api-staff-user"),
    path(
        "staff/users/<int:user_id>/strikes",
        staff.UserStrikeListApi.as_view(),
        name="api-staff-user-strikes",
    ),
    path(
        "staff/users/<int:user_id>/suspensions",
        method_routes(get=staff.UserSuspensionListApi, post=staff.UserSuspendApi),
        name="api-staff-user-suspensions",
    ),
    path("staff/users/<int:user_id>/warn", staff.UserWarnApi.as_view(), name="api-staff-user-warn"),
    path(
        "staff/suspensions/<int:suspension_id>/lift",
        staff.SuspensionLiftApi.as_view(),
        name="api-staff-suspension-lift",
    ),
    path(
        "staff/figures",
        method_routes(get=staff.FigureListApi, post=staff.FigureAddApi),
        name="api-staff-figures",
    ),
    path(
        "staff/policy",
        method_routes(get=staff.PolicyCurrentApi, post=staff.PolicyUpdateApi),
        name="api-staff-policy",
    ),
    path("staff/policy/history", staff.PolicyHistoryApi.as_view(), name="api-staff-policy-history"),
    path("staff/transparency", staff.TransparencyApi.as_view(), name="api-staff-transparency"),
    path("staff/audit-log", staff.AuditLogApi.as_view(), name="api-staff-audit-log"),
    # Likeness protection (docs/moderation-images.md, "Likeness enrolment").
    path(
        "likeness/enrolments",
        method_routes(get=likeness.LikenessEnrolmentListApi, post=likeness.LikenessEnrolApi),
        name="api-likeness-enrolments",
    ),
    path(
        "likeness/enrolments/<int:enrolment_id>",
        likeness.LikenessWithdrawApi.as_view(),
        name="api-likeness-enrolment",
    ),
    path(
        "staff/likeness/enrolments",
        likeness.StaffEnrolmentReviewListApi.as_view(),
        name="api-staff-likeness-enrolments",
    ),
    path(
        "staff/likeness/enrolments/<int:enrolment_id>/review",
        likeness.StaffEnrolmentReviewApi.as_view(),
        name="api-staff-likeness-review",
    ),
    path(
        "staff/figures/<int:figure_id>/likeness",
        likeness.StaffFigureLikenessApi.as_view(),
        name="api-staff-figure-likeness",
    ),
]
