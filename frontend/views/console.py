"""The staff console: review queue, cases, users, public figures, policy, transparency, audit.

Every view is wrapped in accounts.decorators.staff_two_factor_required: anonymous visitors go
to the login page, non-staff get 403, staff without two-factor go to set it up.
"""

import tempfile
import uuid
from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from accounts.decorators import staff_two_factor_required
from billing.selectors import balance_summary
from billing.services.credits import MAX_ADJUSTMENT, credits_adjust
from common.errors import ApiError, InvalidRequest
from common.numbers import whole_number
from frontend import console_selectors as selectors
from frontend.views.common import AuthedRequest, flash_error, not_found_as_404
from frontend.views.studio import image_response
from moderation.models import Case, Category
from moderation.selectors.cases import case_get, cases_queue
from moderation.selectors.console import (
    audit_log,
    figures_search,
    suspensions_for_user,
    user_get,
    user_standing,
)
from moderation.services.cases import (
    ACTIONS_BY_RESOLUTION,
    CaseAction,
    case_claim,
    case_release,
    case_resolve,
)
from moderation.services.enforcement import MAX_SUSPENSION_DAYS, suspension_lift
from moderation.services.figures import (
    ReferencePhoto,
    figure_add,
    figures_import,
    figures_read_file,
)
from moderation.services.policy import policy_update

PAGE_SIZE = 25


def _page(request: AuthedRequest, rows):  # type: ignore[no-untyped-def]
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


# --- Queue and cases -----------------------------------------------------------------------------


@staff_two_factor_required
def queue(request: AuthedRequest) -> HttpResponse:
    filters = {
        "category": request.GET.get("category", ""),
        "source": request.GET.get("source", ""),
        "state": request.GET.get("state", ""),
        "mine": request.GET.get("mine", ""),
    }
    try:
        cases = cases_queue(
            states=[filters["state"]] if filters["state"] else None,
            category=filters["category"],
            source=filters["source"],
            assignee_id=request.user.pk if filters["mine"] else None,
        )
    except ApiError as error:
        flash_error(request, error)
        cases = cases_queue()
    context = {
        "page": _page(request, cases),
        "filters": filters,
        "categories": Category.choices,
        "sources": Case.Source.choices,
        "states": Case.State.choices,
    }
    return render(request, "console/queue.html", context)


@staff_two_factor_required
@not_found_as_404
def case_detail(request: AuthedRequest, case_id: int) -> HttpResponse:
    case = case_get(case_id=case_id)
    context = {
        "case": case,
        "images": selectors.case_images(case=case),
        "reports": case.reports.select_related("reporter").order_by("-created_at")[:20],
        "appeal": getattr(case, "appeal", None),
        "subject": selectors.user_overview(user=case.subject_user) if case.subject_user else None,
        "upheld_actions": sorted(ACTIONS_BY_RESOLUTION[Case.Resolution.UPHELD]),
        "overturned_actions": sorted(ACTIONS_BY_RESOLUTION[Case.Resolution.OVERTURNED]),
        "can_act": case.state != Case.State.RESOLVED
        and (case.assignee_id in (None, request.user.pk)),
    }
    return render(request, "console/case.html", context)


@staff_two_factor_required
@require_POST
def case_claim_view(request: AuthedRequest, case_id: int) -> HttpResponse:
    try:
        case_claim(case_id=case_id, actor=request.user)
        messages.success(request, "Case claimed: it is yours until you resolve or release it.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("console:case", case_id=case_id)


@staff_two_factor_required
@require_POST
def case_release_view(request: AuthedRequest, case_id: int) -> HttpResponse:
    try:
        case_release(case_id=case_id, actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, "Case released back to the queue.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("console:queue")


def _actions_from(post) -> list[CaseAction]:  # type: ignore[no-untyped-def]
    raw_days = post.get("days", "").strip()
    days = whole_number(raw_days, minimum=1, maximum=MAX_SUSPENSION_DAYS)
    # Checked even when no suspension is chosen: a malformed field means a mistyped form.
    if raw_days and days is None:
        raise InvalidRequest(
            f"A suspension needs a number of days (1 to {MAX_SUSPENSION_DAYS}).", param="days"
        )
    actions = []
    for action_type in post.getlist("actions"):
        if action_type == "suspend" and days is None:
            raise InvalidRequest("A suspension needs a number of days (1 or more).", param="days")
        suspend_days = days if action_type == "suspend" else None
        actions.append(CaseAction(type=action_type, days=suspend_days))
    return actions


@staff_two_factor_required
@require_POST
def case_resolve_view(request: AuthedRequest, case_id: int) -> HttpResponse:
    """Resolution, actions and a reason are all required; the service checks they fit."""
    try:
        case_resolve(
            case_id=case_id,
            actor=request.user,
            resolution=request.POST.get("resolution", ""),
            actions=_actions_from(request.POST),
            reason=request.POST.get("reason", ""),
        )
    except ApiError as error:
        flash_error(request, error)
        return redirect("console:case", case_id=case_id)
    messages.success(request, f"Case {case_id} resolved.")
    next_case = cases_queue().exclude(pk=case_id).filter(assignee__isnull=True).first()
    if next_case is not None and request.POST.get("next") == "1":
        return redirect("console:case", case_id=next_case.pk)
    return redirect("console:queue")


@staff_two_factor_required  # type: ignore[arg-type]  # streams a FileResponse
@not_found_as_404
def image_file(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponseBase:
    """Any image, for reviewers, withheld and taken-down ones from the quarantine; served
    blurred by the page until revealed."""
    image = selectors.image_for_staff(image_id=image_id)
    key = selectors.image_file_key_for_staff(image=image)
    if not key:
        return HttpResponse(
            "This image is no longer stored.", status=410, content_type="text/plain"
        )
    return image_response(storage_key=key, name=str(image.pk), download=False, private=True)


# --- Users ---------------------------------------------------------------------------------------


@staff_two_factor_required
def users(request: AuthedRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "console/users.html",
        {"page": _page(request, selectors.users_search(query=query)), "query": query},
    )


@staff_two_factor_required
@not_found_as_404
def user_detail(request: AuthedRequest, user_id: int) -> HttpResponse:
    subject = user_get(user_id=user_id)
    context = {
        "subject": subject,
        "overview": selectors.user_overview(user=subject),
        "standing": user_standing(user=subject),
        "balance": balance_summary(user=subject),
        "adjust_token": uuid.uuid4().hex,
    }
    return render(request, "console/user.html", context)


@staff_two_factor_required
@require_POST
@not_found_as_404
def user_adjust_credits(request: AuthedRequest, user_id: int) -> HttpResponse:
    subject = user_get(user_id=user_id)
    amount = whole_number(
        request.POST.get("amount", ""), minimum=-MAX_ADJUSTMENT, maximum=MAX_ADJUSTMENT
    )
    if amount is None:
        messages.error(
            request,
            f"The amount must be a whole number of credits up to {MAX_ADJUSTMENT:,} either way, "
            "e.g. 50 or -20.",
        )
        return redirect("console:user", user_id=user_id)
    token = request.POST.get("token", "")[:64]
    try:
        credits_adjust(
            user=subject,
            amount=amount,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            # The form's one-time token: a double-submitted form adjusts once.
            idempotency_key=f"console-adjust:{token}" if token else None,
        )
        messages.success(request, f"Adjusted {subject.email}'s balance by {amount:+d} credits.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("console:user", user_id=user_id)


@staff_two_factor_required
@require_POST
@not_found_as_404
def suspension_lift_view(request: AuthedRequest, user_id: int, suspension_id: int) -> HttpResponse:
    subject = user_get(user_id=user_id)
    if not suspensions_for_user(user=subject).filter(pk=suspension_id).exists():
        raise Http404("No such suspension for this user.")
    try:
        suspension_lift(
            suspension_id=suspension_id, actor=request.user, reason=request.POST.get("reason", "")
        )
        messages.success(request, "Suspension lifted.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("console:user", user_id=user_id)


# --- Public figures, policy, transparency, audit ------------------------------------------------


def _reference_photos(files) -> list[ReferencePhoto]:  # type: ignore[no-untyped-def]
    photos = []
    for upload in files:
        try:
            with PILImage.open(upload) as picture:
                photos.append(ReferencePhoto(image=picture.convert("RGB"), source_name=upload.name))
        except (UnidentifiedImageError, OSError):
            raise InvalidRequest(
                f"{upload.name}: not an image file Easel can read.", param="photo"
            ) from None
    return photos


def _import_upload(*, upload, actor) -> str:  # type: ignore[no-untyped-def]
    """The registry reads files by path (CSV, TSV or JSONL by suffix): the upload is spooled
    to a temporary file with its own suffix."""
    suffix = Path(upload.name).suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix) as spool:
        for chunk in upload.chunks():
            spool.write(chunk)
        spool.flush()
        rows, total = figures_read_file(spool.name)
        result = figures_import(rows=rows, actor=actor, total=total)
    summary = f"{result.created} added, {result.updated} updated, {result.skipped} skipped"
    return summary + (f" ({'; '.join(result.errors[:3])})" if result.errors else "")


@staff_two_factor_required
@require_http_methods(["GET", "POST"])
def figures(request: AuthedRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            if request.FILES.get("file"):
                summary = _import_upload(upload=request.FILES["file"], actor=request.user)
                messages.success(request, f"Imported: {summary}.")
            else:
                aliases = [
                    alias.strip()
                    for alias in request.POST.get("aliases", "").split(",")
                    if alias.strip()
                ]
                figure = figure_add(
                    name=request.POST.get("name", ""),
                    aliases=aliases,
                    category=request.POST.get("category", "").strip(),
                    photos=_reference_photos(request.FILES.getlist("photos")),
                    actor=request.user,
                )
                messages.success(request, f"Added {figure.name}.")
        except ApiError as error:
            flash_error(request, error)
        return redirect("console:figures")
    query = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "console/figures.html",
        {"page": _page(request, figures_search(query=query)), "query": query},
    )


@staff_two_factor_required
@require_http_methods(["GET", "POST"])
def policy(request: AuthedRequest) -> HttpResponse:
    current, history = selectors.policy_versions()
    if request.method == "POST":
        try:
            rules = selectors.rules_from_form(post=request.POST, current=current.rules)
            version = policy_update(
                rules=rules, reason=request.POST.get("reason", ""), actor=request.user
            )
            messages.success(request, f"Policy version {version.version} is now in force.")
        except ApiError as error:
            flash_error(request, error)
        return redirect("console:policy")
    context = {
        "current": current,
        "rows": selectors.policy_rows(current=current),
        "history": history,
    }
    return render(request, "console/policy.html", context)


@staff_two_factor_required
def transparency(request: AuthedRequest) -> HttpResponse:
    weeks_count = whole_number(request.GET.get("weeks", ""), minimum=1, maximum=104) or 12
    return render(
        request, "console/transparency.html", selectors.transparency_context(weeks=weeks_count)
    )


@staff_two_factor_required
def audit(request: AuthedRequest) -> HttpResponse:
    filters = {
        key: request.GET.get(key, "").strip()[:64]
        for key in ("action", "target_type", "target_id", "actor")
    }
    actor_id = whole_number(filters["actor"], minimum=1, maximum=2**63 - 1)
    entries = audit_log(
        actor_id=actor_id,
        action=filters["action"],
        target_type=filters["target_type"],
        target_id=filters["target_id"],
    )
    context = {
        "page": _page(request, entries),
        "filters": filters,
        "actions": selectors.audit_actions(),
    }
    return render(request, "console/audit.html", context)
