"""Pages anyone can see: the landing page, Explore, share links, public collections, reports,
and /verify (did Easel make this image?)."""

from allauth.account.adapter import get_adapter as get_account_adapter
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Tier
from billing.selectors import price_table
from common.errors import ApiError, NotFound
from common.site import site_url
from frontend.forms import ReportForm
from frontend.views.common import flash_error
from frontend.views.studio import image_response
from generation.selectors.sharing import explore_shares, share_get_public
from generation.services.provenance import provenance_check
from generation.services.sharing import share_view_record
from generation.services.uploads import MAX_UPLOAD_BYTES
from moderation.models import Category
from moderation.selectors.transparency import period_starts, transparency_report
from moderation.services.cases import case_open_for_report
from moderation.verdicts import USER_MESSAGES

EXPLORE_PAGE_SIZE = 24
TRANSPARENCY_MONTHS = 12
# The public figures are aggregates over every decision: computed at most this often.
TRANSPARENCY_CACHE_SECONDS = 300


def home(request: HttpRequest) -> HttpResponse:
    context = {
        "tiers": Tier.objects.filter(is_public=True).order_by("sort_order"),
        "prices": price_table(),
        "examples": explore_shares()[:6],
        "policy": [(Category(category).label, text) for category, text in USER_MESSAGES.items()],
    }
    return render(request, "frontend/home.html", context)


EXPLORE_SORTS = [("newest", "Newest"), ("views", "Most viewed")]


def explore(request: HttpRequest) -> HttpResponse:
    # PostgreSQL refuses NUL in a string: a query containing one would be a 500, not a search.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    order = request.GET.get("sort", "newest")
    if order not in dict(EXPLORE_SORTS):
        order = "newest"
    shares = explore_shares(query=query, order=order)
    page = Paginator(shares, EXPLORE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "sort": order, "sorts": EXPLORE_SORTS}
    return render(request, "frontend/explore.html", context)


def _viewer(request: HttpRequest) -> str:
    """Who is looking, for counting distinct viewers: the account, else the visitor's address
    (as allauth's rate limits see it, behind ALLAUTH_TRUSTED_PROXY_COUNT proxies)."""
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{get_account_adapter(request).get_client_ip(request)}"


def _public_share(slug: str):  # type: ignore[no-untyped-def]
    try:
        return share_get_public(slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error


def share_page(request: HttpRequest, slug: str) -> HttpResponse:
    public = _public_share(slug)
    if public.gone:
        return render(request, "frontend/share_gone.html", status=410)
    share_url = site_url(reverse("frontend:share", args=[slug]))
    image_url = site_url(reverse("frontend:share_image", args=[slug]))
    context = {
        "share": public.share,
        "image": public.image,
        "generation": public.image.generation,
        "share_url": share_url,
        "image_url": image_url,
        "report_form": ReportForm(),
    }
    if request.method == "GET":
        share_view_record(share=public.share, viewer=_viewer(request))
    response = render(request, "frontend/share.html", context)
    response["Cache-Control"] = "no-cache"  # a takedown must show at once
    return response


def share_image(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The shared image itself: a stable address for link previews (og:image)."""
    public = _public_share(slug)
    if public.gone:
        return HttpResponse("This image was removed.", status=410, content_type="text/plain")
    return image_response(
        storage_key=public.image.storage_key,
        name=f"easel-{slug}",
        download=request.GET.get("download") == "1",
        private=False,
    )


@require_POST
def share_report(request: HttpRequest, slug: str) -> HttpResponse:
    """Anyone, signed in or not, may report a shared image; a case opens for a reviewer."""
    public = _public_share(slug)
    if public.gone:
        return render(request, "frontend/share_gone.html", status=410)
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what is wrong with this image.")
        return redirect("frontend:share", slug=slug)
    try:
        case_open_for_report(
            image_id=public.image.pk,
            reporter=request.user if request.user.is_authenticated else None,
            reason=form.cleaned_data["reason"],
            details=form.cleaned_data["details"],
        )
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:share", slug=slug)
    messages.success(request, "Thank you. A person on our team will look at this image.")
    return redirect("frontend:share", slug=slug)


def api_docs(request: HttpRequest) -> HttpResponse:
    """The API reference: Swagger UI from Easel's own static files on the OpenAPI schema."""
    return render(request, "frontend/api_docs.html")


def transparency(request: HttpRequest) -> HttpResponse:
    """The public transparency report, per month: moderation's figures, counts only."""
    starts = period_starts(period="month", count=TRANSPARENCY_MONTHS, today=timezone.now().date())
    sections = cache.get_or_set(
        f"transparency:month:{starts[0].isoformat()}",
        lambda: transparency_report(starts=starts, period="month"),
        TRANSPARENCY_CACHE_SECONDS,
    )
    context = {"sections": sections, "months": TRANSPARENCY_MONTHS}
    return render(request, "frontend/transparency.html", context)


def verify(request: HttpRequest) -> HttpResponse:
    """Drop an image, learn whether Easel made it, when and with which model; its owner,
    signed in, also learns which of their images it is. Nothing uploaded is kept."""
    context: dict[str, object] = {}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("image")
        try:
            context["result"] = provenance_check(
                # Past the limit, only enough is read for the service to refuse it.
                image_bytes=upload.read(MAX_UPLOAD_BYTES) if upload else b"",
                asker=request.user if request.user.is_authenticated else None,
                address=request.META.get("REMOTE_ADDR", ""),
            )
            context["filename"] = upload.name if upload else ""
        except ApiError as error:
            context["error"], status = error.message, error.status_code
    response = render(request, "frontend/verify.html", context, status=status)
    response["Cache-Control"] = "no-store"  # an answer about one upload, for one person
    return response
