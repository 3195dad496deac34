"""The likeness page under the account: protect your own face, see and withdraw enrolments."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from PIL import Image, UnidentifiedImageError

from common.errors import ApiError, InvalidRequest
from frontend.views.common import AuthedRequest, flash_error
from moderation.selectors.enrolments import enrolments_for_user
from moderation.services.figures import ReferencePhoto
from moderation.services.likeness import CONSENT_TEXT, MAX_PHOTOS, likeness_enrol, likeness_withdraw


@login_required
@require_http_methods(["GET", "POST"])
def likeness(request: AuthedRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            likeness_enrol(
                user=request.user,
                photos=_photos(request),
                consent=request.POST.get("consent") == "on",
            )
        except ApiError as error:
            flash_error(request, error)
        else:
            messages.success(
                request,
                "Your face is protected: images that match it will not be made or accepted "
                "for anyone else.",
            )
        return redirect("frontend:likeness")
    context = {
        "enrolments": enrolments_for_user(user_id=request.user.pk),
        "consent_text": CONSENT_TEXT,
        "max_photos": MAX_PHOTOS,
    }
    return render(request, "frontend/likeness.html", context)


@login_required
@require_POST
def likeness_withdraw_view(request: AuthedRequest, enrolment_id: int) -> HttpResponse:
    try:
        likeness_withdraw(user=request.user, enrolment_id=enrolment_id)
    except ApiError as error:
        flash_error(request, error)
    else:
        messages.success(request, "Withdrawn. The description of your face was deleted.")
    return redirect("frontend:likeness")


def _photos(request: AuthedRequest) -> list[ReferencePhoto]:
    photos = []
    for upload in request.FILES.getlist("photos"):
        try:
            with Image.open(upload) as image:
                image.load()
                photos.append(
                    ReferencePhoto(image=image.convert("RGB"), source_name=upload.name or "")
                )
        except (UnidentifiedImageError, OSError):
            raise InvalidRequest(
                f"{upload.name}: not an image file (PNG or JPEG).", param="photos"
            ) from None
    return photos
