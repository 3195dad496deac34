"""The signed-in studio: create, watch progress, history, one image and what to do with it."""

import base64
import binascii
import io
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from PIL import Image as PILImage
from rest_framework.authentication import SessionAuthentication

from billing.selectors import balance_summary, generation_cost, image_price
from common.errors import ApiError, InvalidRequest
from common.numbers import whole_number
from frontend import canvas
from frontend.forms import (
    CollectionForm,
    CreateForm,
    EditForm,
    ImageChoicesForm,
    ShareForm,
    UploadForm,
    size_value,
    size_values,
)
from frontend.selectors import generations_for_user, progress_tiles
from frontend.views.common import AuthedRequest, flash_error, not_found_as_404
from generation.api.native import GenerationEventsApi
from generation.inference.registry import model_spec
from generation.models import Generation, Image
from generation.selectors import queue_estimate
from generation.selectors.jobs import generation_get_for_user, image_get_for_owner, progress_of
from generation.selectors.sharing import collections_for_user, share_for_image
from generation.services import collections as collection_services
from generation.services import sharing as sharing_services
from generation.services.admission import admission_admit
from generation.services.cdn import media_cache_headers
from generation.services.generations import generation_cancel as cancel
from generation.services.image_options import MIME_TYPES, size_parse
from generation.services.images import image_delete as image_delete_service
from generation.services.parameters import MAX_N

HISTORY_PAGE_SIZE = 12
# Previews the worker decodes from the latents while a studio job renders, shown live on the
# generation page (the same previews /v1 streams with `partial_images`).
STUDIO_PARTIAL_IMAGES = 2
MAX_MASK_BYTES = 6_000_000


def studio_max_pixels(request: AuthedRequest) -> int:
    """The most pixels the studio offers: the plan's cap, within the default model's."""
    return min(request.user.tier.max_pixels, model_spec().max_pixels)


def _create_form(request: AuthedRequest, data: object = None) -> CreateForm:
    return CreateForm(data, max_pixels=studio_max_pixels(request), max_n=request.user.tier.max_n)


def _size_pixels(size: object) -> int | None:
    """A form's size ("WxH", or a square's side) in pixels; None when it is not one."""
    try:
        parsed = size_parse(size_value(size))
    except ApiError:
        return None
    return parsed.pixels if parsed is not None else None


def form_cost(*, size: object, n: object) -> int | None:
    """What a form's current choice costs, by billing's one price rule; None when the choice
    cannot be priced (the page then shows the button without a figure, and the service explains
    the choice on submit). easel.js updates the figure in the browser from the same prices."""
    count = whole_number(str(n if n is not None else ""), minimum=1, maximum=MAX_N)
    pixels = _size_pixels(size)
    if count is None or pixels is None:
        return None
    return generation_cost(pixels=pixels, n=count)


def _cost_context(
    request: AuthedRequest, *, size: object, n: object, form: ImageChoicesForm | None = None
) -> dict:
    """The prices and balance a spending form needs for its live cost (easel.js): the price of
    one image at each size the form offers (or at its one fixed size), priced here by billing's
    rule so that the browser only multiplies."""
    sizes = size_values(form.fields["size"].widget.choices) if form else [str(size)]  # type: ignore[attr-defined]
    prices = {
        label: image_price(pixels=pixels) for label in sizes if (pixels := _size_pixels(label))
    }
    return {
        "price_list": ",".join(f"{label}:{credits}" for label, credits in prices.items()),
        "balance": balance_summary(user=request.user),
        "cost": form_cost(size=size, n=n),
    }


def _size_refused(request: AuthedRequest, *, image: Image) -> bool:
    """An image made on a larger plan than the user's now: its edits and variations (at its own
    size) are not offered, rather than refused after the click."""
    return image.width * image.height > request.user.tier.max_pixels


def variation_choices(request: AuthedRequest) -> dict:
    """How many variations the image page offers: 1 up to the plan's limit, 4 chosen (as
    DALL-E 2 made four) unless the plan allows fewer."""
    max_n = request.user.tier.max_n
    return {"variation_counts": range(1, max_n + 1), "variation_n": min(4, max_n)}


def _start_generation(request: AuthedRequest, **kwargs: Any) -> Generation | None:
    """Every studio form's way in (create, variations, edit): admission, like both APIs; on a
    refusal shows its message (with when to try again) and returns None."""
    try:
        return admission_admit(
            user=request.user,
            api_key=None,
            source=Generation.Source.WEB,
            partial_images=STUDIO_PARTIAL_IMAGES,
            **kwargs,
        ).generation
    except ApiError as error:
        flash_error(request, error)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def create(request: AuthedRequest) -> HttpResponse:
    form = _create_form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        generation = _start_generation(
            request,
            operation=Generation.Operation.GENERATE,
            prompt=form.cleaned_data["prompt"],
            n=form.cleaned_data["n"],
            seed=form.cleaned_data["seed"],
            **form.image_options(),
        )
        if generation is not None:
            return redirect("frontend:generation", generation_id=generation.pk)
    status = 400 if request.method == "POST" else 200
    recent = generations_for_user(user=request.user)[:6]
    context = {
        "form": form,
        "recent": recent,
        "tier": request.user.tier,
        **_cost_context(request, size=form["size"].value(), n=form["n"].value(), form=form),
    }
    return render(request, "frontend/create.html", context, status=status)


def _progress_context(request: AuthedRequest, generation: Generation) -> dict:
    tiles = progress_tiles(generation=generation)
    return {
        "generation": generation,
        "progress": progress_of(generation=generation),
        "tiles": tiles,
        "delivered_count": sum(tile.state == "delivered" for tile in tiles),
        **_queue_context(generation),
        **_run_again_context(request, generation),
    }


def _run_again_context(request: AuthedRequest, generation: Generation) -> dict:
    """A finished prompt can be sent again (to Create, with a new seed), its price on the
    button. Not a blocked one: the same prompt would be blocked again, and count as a strike."""
    offered = (
        generation.is_final
        and generation.operation == Generation.Operation.GENERATE
        and generation.status != Generation.Status.BLOCKED
    )
    if not offered:
        return {"run_again": False}
    return {
        "run_again": True,
        **_cost_context(request, size=generation.size_label, n=generation.n),
    }


def _queue_context(generation: Generation) -> dict:
    """Place in the queue (1: runs next) and the generation app's estimate of the wait."""
    if generation.status != Generation.Status.QUEUED:
        return {"position": None, "eta_seconds": None}
    estimate = queue_estimate(generation=generation)
    return {
        "position": estimate["position"] + 1,
        "eta_seconds": estimate["estimated_start_seconds"],
    }


@login_required
@not_found_as_404
def generation_detail(request: AuthedRequest, generation_id: uuid.UUID) -> HttpResponse:
    generation = generation_get_for_user(user=request.user, generation_id=generation_id)
    return render(request, "frontend/generation.html", _progress_context(request, generation))


@login_required
@not_found_as_404
def generation_progress(request: AuthedRequest, generation_id: uuid.UUID) -> HttpResponse:
    """The live part of the generation page, polled by htmx until the generation is final."""
    generation = generation_get_for_user(user=request.user, generation_id=generation_id)
    return render(request, "frontend/_progress.html", _progress_context(request, generation))


# The generation page's live progress: the native API's own async SSE view (held on the event
# loop, no thread per open tab), reached with the session cookie.
class _StudioGenerationEvents(GenerationEventsApi):
    authentication_classes = [SessionAuthentication]
    schema = None  # the studio's page route: not part of the API's schema


generation_events = _StudioGenerationEvents.as_view()


@login_required
@require_POST
@not_found_as_404
def generation_cancel(request: AuthedRequest, generation_id: uuid.UUID) -> HttpResponse:
    generation = generation_get_for_user(user=request.user, generation_id=generation_id)
    try:
        cancel(generation=generation)
    except ApiError as error:
        flash_error(request, error)
    return redirect("frontend:generation", generation_id=generation.pk)


@login_required
def history(request: AuthedRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    paginator = Paginator(generations_for_user(user=request.user, query=query), HISTORY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    template = "frontend/_history_results.html" if request.htmx else "frontend/history.html"
    return render(request, template, {"page": page, "query": query})


@login_required
@not_found_as_404
def image_detail(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    image = image_get_for_owner(user=request.user, image_id=image_id)
    share = share_for_image(image=image)
    context = {
        "image": image,
        "generation": image.generation,
        "share": share,
        "share_form": ShareForm(initial={"in_explore": share.in_explore if share else True}),
        "collections": collections_for_user(user=request.user),
        "collection_form": CollectionForm(),
        "private_allowed": request.user.tier.private_images_allowed,
        **variation_choices(request),
    }
    context.update(_cost_context(request, size=_image_size(image), n=context["variation_n"]))
    context["size_refused"] = _size_refused(request, image=image)
    return render(request, "frontend/image.html", context)


def image_response(
    *, storage_key: str, name: str, download: bool, private: bool
) -> HttpResponseBase:
    """Streams a stored image through Django: works the same on the local folder and on S3.
    A file that storage no longer has answers 410, as a removed image does. Its type and the
    download's extension are the stored file's (PNG, JPEG or WebP, as the job asked)."""
    extension = storage_key.rpartition(".")[2].lower()
    if extension not in MIME_TYPES:
        extension = "png"
    try:
        handle = default_storage.open(storage_key, "rb")
    except (FileNotFoundError, OSError):
        return HttpResponse(
            "This image is no longer available.", status=410, content_type="text/plain"
        )
    response = FileResponse(
        handle,
        content_type=MIME_TYPES[extension],
        as_attachment=download,
        filename=f"{name}.{extension}",
    )
    media_cache_headers(response, storage_key=storage_key, private=private)
    return response


@login_required
@not_found_as_404
def image_file(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponseBase:
    image = image_get_for_owner(user=request.user, image_id=image_id)
    if not image.storage_key:
        return HttpResponse("This image is not available.", status=410, content_type="text/plain")
    return image_response(
        storage_key=image.storage_key,
        name=f"easel-{image.pk}",
        download=request.GET.get("download") == "1",
        private=True,
    )


@login_required
@require_POST
@not_found_as_404
def image_share(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    image = image_get_for_owner(user=request.user, image_id=image_id)
    form = ShareForm(request.POST)
    form.is_valid()  # both fields are optional booleans: always valid
    try:
        if form.cleaned_data.get("share"):
            share = sharing_services.share_enable(
                user=request.user, image_id=image.pk, in_explore=form.cleaned_data["in_explore"]
            )
            messages.success(request, f"Shared. Anyone with the link can see it: /s/{share.slug}")
        else:
            sharing_services.share_disable(user=request.user, image_id=image.pk)
            messages.success(request, "Sharing is off. The link no longer works.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("frontend:image", image_id=image.pk)


@login_required
@require_POST
@not_found_as_404
def image_delete(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    image = image_get_for_owner(user=request.user, image_id=image_id)
    try:
        image_delete_service(image=image)
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:image", image_id=image.pk)
    messages.success(request, "Image deleted.")
    return redirect("frontend:history")


@login_required
@require_POST
@not_found_as_404
def image_collect(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    """Adds the image to a collection, creating the collection when a new name is given."""
    image = image_get_for_owner(user=request.user, image_id=image_id)
    try:
        collection_id = request.POST.get("collection", "")
        new_name = request.POST.get("name", "").strip()
        if new_name:
            collection_id = str(
                collection_services.collection_create(user=request.user, name=new_name).pk
            )
        chosen = whole_number(collection_id, minimum=1, maximum=2**63 - 1)
        if chosen is None:
            raise InvalidRequest("Choose a collection or name a new one.", param="collection")
        collection_services.collection_add_image(
            user=request.user, collection_id=chosen, image_id=image.pk
        )
        messages.success(request, "Added to the collection.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("frontend:image", image_id=image.pk)


def _image_size(image: Image) -> str:
    """An image's own size as the service reads it: its variations and repaints keep it."""
    return f"{image.width}x{image.height}"


def _image_bytes(image_storage_key: str) -> bytes:
    try:
        with default_storage.open(image_storage_key, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError) as error:
        raise InvalidRequest("This image is no longer stored.", param="image") from error


@login_required
@require_POST
@not_found_as_404
def image_variations(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    image = image_get_for_owner(user=request.user, image_id=image_id)
    n = request.POST.get("n", "1")
    try:
        source = _image_bytes(image.storage_key)
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:image", image_id=image.pk)
    generation = _start_generation(
        request,
        operation=Generation.Operation.VARIATION,
        prompt="",
        n=whole_number(n, minimum=0, maximum=999) or 0,  # the service says what n may be
        size=_image_size(image),
        image_bytes=source,
    )
    if generation is None:
        return redirect("frontend:image", image_id=image.pk)
    return redirect("frontend:generation", generation_id=generation.pk)


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: AuthedRequest) -> HttpResponse:
    """Vary, or repaint part of, an image of the user's own, with their consent for a face."""
    tier = request.user.tier
    form = UploadForm(
        request.POST or None,
        request.FILES or None,
        max_pixels=studio_max_pixels(request),
        max_n=tier.max_n,
        takes_references=model_spec().ip_adapter is not None,
    )
    if request.method == "POST" and form.is_valid():
        generation = _start_upload(request, form)
        if generation is not None:
            return redirect("frontend:generation", generation_id=generation.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "tier": tier,
        **_cost_context(request, size=form["size"].value(), n=form["n"].value(), form=form),
    }
    return render(request, "frontend/upload.html", context, status=status)


def _start_upload(request: AuthedRequest, form: UploadForm) -> Generation | None:
    source = form.cleaned_data["image"].read()
    edit = form.cleaned_data["action"] == "edit"
    mask = None
    if edit and form.cleaned_data["mask"]:
        try:
            mask = _decode_mask(form.cleaned_data["mask"], size=_image_dimensions(source))
        except ApiError as error:
            flash_error(request, error)
            return None
    return _start_generation(
        request,
        operation=Generation.Operation.EDIT if edit else Generation.Operation.VARIATION,
        prompt=form.cleaned_data["prompt"] if edit else "",
        n=form.cleaned_data["n"],
        image_bytes=source,
        mask_bytes=mask,
        reference_bytes=tuple(upload.read() for upload in form.cleaned_data.get("references", [])),
        face_consent=form.cleaned_data["face_consent"],
        **form.image_options(),
    )


def _image_dimensions(raw: bytes) -> tuple[int, int]:
    """The uploaded picture's width and height from its header (the service checks the file)."""
    try:
        return PILImage.open(io.BytesIO(raw)).size
    except Exception as error:  # Pillow raises many kinds for a broken file
        raise InvalidRequest("The image could not be read.", param="image") from error


def _decode_mask(data_url: str, *, size: tuple[int, int]) -> bytes:
    """The canvas's PNG data URL as bytes, checked to be a PNG of the image's size."""
    header, _, encoded = data_url.partition(",")
    if header != "data:image/png;base64" or not encoded:
        raise InvalidRequest("Paint over the area to change first.", param="mask")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequest("The mask could not be read; paint it again.", param="mask") from error
    if len(raw) > MAX_MASK_BYTES:
        raise InvalidRequest("The mask is too large.", param="mask")
    try:
        mask = PILImage.open(io.BytesIO(raw))
        mask.load()
    except Exception as error:  # Pillow raises many kinds for a broken file
        raise InvalidRequest("The mask is not a PNG image.", param="mask") from error
    if mask.size != size:
        raise InvalidRequest(f"The mask must be {size[0]}×{size[1]} pixels.", param="mask")
    if not canvas.has_transparent_area(mask):
        raise InvalidRequest("Paint over the area you want to change first.", param="mask")
    return raw


@login_required
@require_http_methods(["GET", "POST"])
@not_found_as_404
def image_edit(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    """Paint a mask over the area to repaint, then describe the whole new image."""
    image = image_get_for_owner(user=request.user, image_id=image_id)
    form = EditForm(
        request.POST or None,
        initial={"prompt": image.generation.prompt},
        max_n=request.user.tier.max_n,
    )
    if request.method == "POST" and form.is_valid():
        try:
            mask = _decode_mask(form.cleaned_data["mask"], size=(image.width, image.height))
            source = _image_bytes(image.storage_key)
        except ApiError as error:
            flash_error(request, error)
        else:
            generation = _start_generation(
                request,
                operation=Generation.Operation.EDIT,
                prompt=form.cleaned_data["prompt"],
                n=form.cleaned_data["n"],
                size=_image_size(image),
                image_bytes=source,
                mask_bytes=mask,
            )
            if generation is not None:
                return redirect("frontend:generation", generation_id=generation.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "image": image,
        "form": form,
        **_cost_context(request, size=_image_size(image), n=form["n"].value()),
        "size_refused": _size_refused(request, image=image),
    }
    return render(request, "frontend/edit.html", context, status=status)
