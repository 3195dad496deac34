"""Collections: named sets of images, private or public."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.errors import ApiError
from frontend.forms import CollectionForm
from frontend.views.common import AuthedRequest, flash_error, not_found_as_404
from generation.selectors.sharing import (
    collection_get_visible,
    collection_images,
    collections_for_user,
)
from generation.services import collections as services


@login_required
@require_http_methods(["GET", "POST"])
def collection_list(request: AuthedRequest) -> HttpResponse:
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            collection = services.collection_create(
                user=request.user,
                name=form.cleaned_data["name"],
                is_public=form.cleaned_data["is_public"],
            )
            return redirect("frontend:collection", slug=collection.slug)
        except ApiError as error:
            flash_error(request, error)
    status = 400 if request.method == "POST" else 200
    context = {"collections": collections_for_user(user=request.user), "form": form}
    return render(request, "frontend/collections.html", context, status=status)


@not_found_as_404
def collection_detail(request: AuthedRequest, slug: str) -> HttpResponse:
    """Owner: every image. Anyone else: a public collection's shared images only."""
    collection = collection_get_visible(slug=slug, viewer=request.user)
    page = Paginator(collection_images(collection=collection, viewer=request.user), 24).get_page(
        request.GET.get("page")
    )
    is_owner = request.user.is_authenticated and collection.user_id == request.user.pk
    form = CollectionForm(initial={"name": collection.name, "is_public": collection.is_public})
    context = {"collection": collection, "page": page, "is_owner": is_owner, "form": form}
    return render(request, "frontend/collection.html", context)


@login_required
@require_POST
@not_found_as_404
def collection_update(request: AuthedRequest, slug: str) -> HttpResponse:
    collection = collection_get_visible(slug=slug, viewer=request.user)
    form = CollectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A collection needs a name of 1 to 100 characters.")
        return redirect("frontend:collection", slug=slug)
    try:
        services.collection_update(
            user=request.user,
            collection_id=collection.pk,
            name=form.cleaned_data["name"],
            is_public=form.cleaned_data["is_public"],
        )
        messages.success(request, "Collection saved.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("frontend:collection", slug=slug)


@login_required
@require_POST
@not_found_as_404
def collection_delete(request: AuthedRequest, slug: str) -> HttpResponse:
    collection = collection_get_visible(slug=slug, viewer=request.user)
    try:
        services.collection_delete(user=request.user, collection_id=collection.pk)
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:collection", slug=slug)
    messages.success(request, "Collection deleted. Its images are still in your history.")
    return redirect("frontend:collections")


@login_required
@require_POST
@not_found_as_404
def collection_remove(request: AuthedRequest, slug: str) -> HttpResponse:
    collection = collection_get_visible(slug=slug, viewer=request.user)
    try:
        image_id = uuid.UUID(request.POST.get("image", ""))
    except ValueError:
        messages.error(request, "Choose an image to remove.")
        return redirect("frontend:collection", slug=slug)
    services.collection_remove_image(
        user=request.user, collection_id=collection.pk, image_id=image_id
    )
    messages.success(request, "Removed from the collection.")
    return redirect("frontend:collection", slug=slug)
