"""The staff console. Every view is wrapped in accounts.decorators.staff_two_factor_required."""

from django.urls import path

from frontend.views import console

urlpatterns = [
    path("", console.queue, name="queue"),
    path("cases/<int:case_id>/", console.case_detail, name="case"),
    path("cases/<int:case_id>/claim", console.case_claim_view, name="case_claim"),
    path("cases/<int:case_id>/release", console.case_release_view, name="case_release"),
    path("cases/<int:case_id>/resolve", console.case_resolve_view, name="case_resolve"),
    path("images/<uuid:image_id>.png", console.image_file, name="image_file"),
    path("users/", console.users, name="users"),
    path("users/<int:user_id>/", console.user_detail, name="user"),
    path("users/<int:user_id>/credits", console.user_adjust_credits, name="user_credits"),
    path(
        "users/<int:user_id>/suspensions/<int:suspension_id>/lift",
        console.suspension_lift_view,
        name="suspension_lift",
    ),
    path("figures/", console.figures, name="figures"),
    path("policy/", console.policy, name="policy"),
    path("transparency/", console.transparency, name="transparency"),
    path("audit/", console.audit, name="audit"),
]
