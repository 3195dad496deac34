"""Extend (outpainting): choose the larger canvas, see the cost, watch the frames, keep the
stitched image. The rules live in generation.services.outpainting; these views only call it."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.selectors import balance_summary
from common.errors import ApiError
from frontend.forms import ExtendForm
from frontend.views.common import AuthedRequest, flash_error, not_found_as_404
from frontend.views.studio import image_response
from generation.models import Image
from generation.selectors.jobs import image_get_for_owner
from generation.selectors.outpainting import (
    extension_get_for_owner,
    extension_view,
    extensions_for_image,
)
from generation.services import outpainting


def _quote_context(request: AuthedRequest, *, image: Image, form: ExtendForm) -> dict:
    """The canvas preview and the price of the chosen placement (or why it cannot be done)."""
    scale = form["scale"].value() or "2"
    direction = form["direction"].value() or "right"
    try:
        quote = outpainting.extension_quote(
            user=request.user, image_id=image.pk, scale=scale, direction=direction
        )
    except ApiError as error:
        return {"image": image, "quote": None, "quote_error": error.message}
    frames = [{"index": i + 1, "x": x, "y": y} for i, (x, y) in enumerate(quote.plan.frames)]
    return {
        "image": image,
        "quote": quote,
        "plan": quote.plan,
        "frames": frames,
        "balance": balance_summary(user=request.user).balance,
    }


@login_required
@require_http_methods(["GET", "POST"])
@not_found_as_404
def image_extend(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    """GET: the form with the preview and cost (query values preview another placement).
    POST: start; the extension's page shows the frames as they are painted."""
    image = image_get_for_owner(user=request.user, image_id=image_id)
    initial = {"prompt": image.generation.prompt, "scale": "2", "direction": "right"}
    data: dict | None = request.POST if request.method == "POST" else None  # type: ignore[assignment]
    if data is None and request.GET.get("direction"):
        data = {**initial, **request.GET.dict()}
    form = ExtendForm(data, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            extension = outpainting.extension_start(
                user=request.user,
                image_id=image.pk,
                prompt=form.cleaned_data["prompt"],
                scale=form.cleaned_data["scale"],
                direction=form.cleaned_data["direction"],
            )
        except ApiError as error:
            flash_error(request, error)
        else:
            return redirect("frontend:extension", extension_id=extension.pk)
    context = {
        **_quote_context(request, image=image, form=form),
        "form": form,
        "earlier": extensions_for_image(user=request.user, image_id=image.pk)[:12],
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "frontend/extend.html", context, status=status)


@login_required
@not_found_as_404
def image_extend_quote(request: AuthedRequest, image_id: uuid.UUID) -> HttpResponse:
    """The htmx fragment the form swaps in when the canvas size or direction changes."""
    image = image_get_for_owner(user=request.user, image_id=image_id)
    form = ExtendForm(request.GET)
    context = {**_quote_context(request, image=image, form=form), "oob_button": True}
    # The start button's price is swapped out of band, so it always matches the preview.
    return render(request, "frontend/_extend_quote.html", context)


@login_required
@not_found_as_404
def extension_detail(request: AuthedRequest, extension_id: uuid.UUID) -> HttpResponse:
    extension = extension_get_for_owner(user=request.user, extension_id=extension_id)
    return render(request, "frontend/extension.html", {"view": extension_view(extension=extension)})


@login_required
@require_POST
@not_found_as_404
def extension_progress(request: AuthedRequest, extension_id: uuid.UUID) -> HttpResponse:
    """Polled by the page (POST: it may start the next frame, which the user paid for when
    starting). Settles finished frames, starts the next, renders the canvas so far."""
    extension = extension_get_for_owner(user=request.user, extension_id=extension_id)
    extension = outpainting.extension_advance(extension_id=extension.pk)
    return render(
        request, "frontend/_extension_progress.html", {"view": extension_view(extension=extension)}
    )


@login_required
@not_found_as_404
def extension_file(request: AuthedRequest, extension_id: uuid.UUID) -> HttpResponseBase:
    """The canvas as filled so far; once finished, the stitched image (`?download=1`)."""
    extension = extension_get_for_owner(user=request.user, extension_id=extension_id)
    return image_response(
        storage_key=extension.canvas_key,
        name=f"easel-extended-{extension.pk}",
        download=request.GET.get("download") == "1",
        private=True,
    )
