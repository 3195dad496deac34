"""The web app (namespace `frontend`) and the staff console (namespace `console`, at /console/)."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from frontend.views import (
    account,
    billing,
    collections,
    developers,
    extend,
    likeness,
    public,
    studio,
)

app_patterns = [
    path("", public.home, name="home"),
    path("explore/", public.explore, name="explore"),
    path("verify", public.verify, name="verify"),
    path("transparency", public.transparency, name="transparency"),
    path("s/<slug:slug>", public.share_page, name="share"),
    path("s/<slug:slug>/image.png", public.share_image, name="share_image"),
    path("s/<slug:slug>/report", public.share_report, name="share_report"),
    path("create/", studio.create, name="create"),
    path("create/upload", studio.upload, name="upload"),
    path("g/<uuid:generation_id>/", studio.generation_detail, name="generation"),
    path("g/<uuid:generation_id>/progress", studio.generation_progress, name="generation_progress"),
    path("g/<uuid:generation_id>/events", studio.generation_events, name="generation_events"),
    path("g/<uuid:generation_id>/cancel", studio.generation_cancel, name="generation_cancel"),
    path("history/", studio.history, name="history"),
    path("i/<uuid:image_id>/", studio.image_detail, name="image"),
    path("i/<uuid:image_id>/image.png", studio.image_file, name="image_file"),
    path("i/<uuid:image_id>/share", studio.image_share, name="image_share"),
    path("i/<uuid:image_id>/collect", studio.image_collect, name="image_collect"),
    path("i/<uuid:image_id>/delete", studio.image_delete, name="image_delete"),
    path("i/<uuid:image_id>/variations", studio.image_variations, name="image_variations"),
    path("i/<uuid:image_id>/edit", studio.image_edit, name="image_edit"),
    path("i/<uuid:image_id>/extend", extend.image_extend, name="image_extend"),
    path("i/<uuid:image_id>/extend/quote", extend.image_extend_quote, name="image_extend_quote"),
    path("x/<uuid:extension_id>/", extend.extension_detail, name="extension"),
    path("x/<uuid:extension_id>/progress", extend.extension_progress, name="extension_progress"),
    path("x/<uuid:extension_id>/image.png", extend.extension_file, name="extension_file"),
    path("collections/", collections.collection_list, name="collections"),
    path("c/<slug:slug>/", collections.collection_detail, name="collection"),
    path("c/<slug:slug>/update", collections.collection_update, name="collection_update"),
    path("c/<slug:slug>/delete", collections.collection_delete, name="collection_delete"),
    path("c/<slug:slug>/remove", collections.collection_remove, name="collection_remove"),
    path("billing/", billing.billing, name="billing"),
    path("billing/buy", billing.billing_buy, name="billing_buy"),
    path("billing/tier", billing.billing_change_tier, name="billing_tier"),
    path("billing/portal", billing.billing_portal, name="billing_portal"),
    path("developers/", developers.developers, name="developers"),
    path("developers/keys", developers.api_key_new, name="api_key_new"),
    path(
        "developers/keys/<str:prefix>/revoke", developers.api_key_revoke_view, name="api_key_revoke"
    ),
    path("developers/webhooks", developers.webhook_new, name="webhook_new"),
    path(
        "developers/webhooks/<uuid:endpoint_id>/delete",
        developers.webhook_delete,
        name="webhook_delete",
    ),
    path("account/", account.account, name="account"),
    path("account/delete", account.account_delete, name="account_delete"),
    path("account/likeness/", likeness.likeness, name="likeness"),
    path(
        "account/likeness/<int:enrolment_id>/withdraw",
        likeness.likeness_withdraw_view,
        name="likeness_withdraw",
    ),
    path("appeals/", account.appeals, name="appeals"),
    path("account/verification/resend", account.verification_resend, name="verification_resend"),
]

urlpatterns = [
    path("", include((app_patterns, "frontend"))),
    # Browsers ask for /favicon.ico on pages that name no icon (the JSON schema, files).
    path("favicon.ico", RedirectView.as_view(url=static("frontend/favicon.svg"), permanent=True)),
    path("console/", include(("frontend.console_urls", "console"))),
]
