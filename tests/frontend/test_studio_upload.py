"""An image of the user's own, varied or partly repainted from the studio, with the consent a
face needs; bad files are refused with the upload rules' message and create nothing."""

import base64
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from billing.selectors import balance_summary
from generation.models import Generation
from moderation.models import Decision

pytestmark = pytest.mark.django_db


def _png(side: int = 256, *, alpha: bool = False, mode: str | None = None) -> SimpleUploadedFile:
    picture = PILImage.new(mode or ("RGBA" if alpha else "RGB"), (side, side), (200, 80, 40))
    if alpha:
        picture.paste((0, 0, 0, 0), (0, 0, side // 2, side // 2))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return SimpleUploadedFile("mine.png", buffer.getvalue(), content_type="image/png")


def _mask(side: int) -> str:
    picture = PILImage.new("RGBA", (side, side), (200, 80, 40, 255))
    picture.paste((0, 0, 0, 0), (0, 0, side // 2, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_the_upload_page_prices_its_button_and_explains_faces_per_plan(
    user_client, client, pro_user
):
    body = user_client.get("/create/upload").content.decode()
    assert (
        'enctype="multipart/form-data"' in body
        and 'accept="image/png,image/jpeg,image/webp"' in body
    )
    assert 'data-cost-button="Start"' in body and "Start (1 credit)" in body
    assert (
        'name="face_consent"' not in body
        and "does not take images showing a realistic face" in body
    )
    client.force_login(pro_user)
    body = client.get("/create/upload").content.decode()
    assert 'name="face_consent"' in body
    assert 'href="/create/upload"' in client.get("/create/").content.decode()


def test_variations_of_an_uploaded_image_start_and_charge_the_chosen_size(user_client, user):
    before = balance_summary(user=user).balance
    response = user_client.post(
        "/create/upload", {"image": _png(300), "action": "variation", "n": 2, "size": 512}
    )
    variation = Generation.objects.get(operation="variation")
    assert response["Location"] == f"/g/{variation.pk}/"
    assert variation.size == 512 and variation.n == 2 and variation.input_image_key
    assert balance_summary(user=user).balance == before - 2


def test_reference_images_go_with_the_upload_where_the_model_takes_them(
    user_client, user, settings
):
    assert 'name="references"' in user_client.get("/create/upload").content.decode()
    response = user_client.post(
        "/create/upload",
        {
            "image": _png(256),
            "references": [_png(64), _png(96)],
            "action": "variation",
            "n": 1,
            "size": 256,
        },
    )
    assert response.status_code == 302, response.content
    assert Generation.objects.get(operation="variation").reference_count == 2
    too_many = user_client.post(
        "/create/upload",
        {
            "image": _png(64),
            "references": [_png(64) for _ in range(16)],
            "action": "variation",
            "n": 1,
            "size": 256,
        },
    )
    assert (
        too_many.status_code == 400 and "At most 15 reference images" in too_many.content.decode()
    )
    assert Generation.objects.count() == 1
    # A studio model without an IP-Adapter offers no reference images.
    plain = {**settings.EASEL_MODELS[settings.EASEL_MODEL]}
    plain.pop("ip_adapter")
    settings.EASEL_MODELS = {**settings.EASEL_MODELS, settings.EASEL_MODEL: plain}
    assert 'name="references"' not in user_client.get("/create/upload").content.decode()


def test_a_repaint_of_an_upload_uses_the_painted_mask_or_the_pngs_own_transparency(
    user_client,
):
    response = user_client.post(
        "/create/upload",
        {
            "image": _png(256),
            "action": "edit",
            "prompt": "a blue door",
            "n": 1,
            "size": 256,
            "mask": _mask(256),
        },
    )
    assert response.status_code == 302
    edit = Generation.objects.get(operation="edit")
    assert edit.prompt == "a blue door" and edit.input_mask_key
    # The plan runs one job at a time (admission holds the studio to it, as the APIs).
    Generation.objects.filter(pk=edit.pk).update(status=Generation.Status.SUCCEEDED)
    response = user_client.post(
        "/create/upload",
        {"image": _png(256, alpha=True), "action": "edit", "prompt": "a door", "n": 1, "size": 256},
    )
    assert response.status_code == 302
    assert Generation.objects.filter(operation="edit", input_mask_key="").count() == 1


def test_bad_uploads_explain_and_create_nothing(user_client, user):
    before = balance_summary(user=user).balance
    cases = [
        ({"action": "variation", "n": 1, "size": 256}, "This field is required"),
        (
            {"image": _png(256), "action": "edit", "prompt": " ", "n": 1, "size": 256},
            "Describe the image",
        ),
        (
            {
                "image": SimpleUploadedFile("x.png", b"GIF89a..."),
                "action": "variation",
                "n": 1,
                "size": 256,
            },
            "format must be PNG",
        ),
        (
            {"image": _png(256), "action": "edit", "prompt": "a door", "n": 1, "size": 256},
            "needs one",
        ),  # no mask and no transparency: nothing to repaint
        (
            {
                "image": _png(256),
                "action": "edit",
                "prompt": "a door",
                "n": 1,
                "size": 256,
                "mask": _mask(128),
            },
            "must be 256×256",
        ),
        (
            {"image": _png(256), "action": "variation", "n": 1, "size": "1024x1024"},
            "over your plan&#x27;s limit",
        ),
        (
            {
                "image": SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * (20 * 2**20)),
                "action": "variation",
                "n": 1,
                "size": 256,
            },
            "under 20 MB",
        ),
    ]
    for data, message in cases:
        response = user_client.post("/create/upload", data, follow=True)
        assert message in response.content.decode(), message
    assert not Generation.objects.exists()
    assert balance_summary(user=user).balance == before


def test_the_consent_reaches_the_upload_screening(client, pro_user):
    client.force_login(pro_user)
    client.post(
        "/create/upload",
        {"image": _png(256), "action": "variation", "n": 1, "size": 256, "face_consent": "on"},
    )
    decision = Decision.objects.get(stage=Decision.Stage.UPLOAD)
    assert decision.scores["face_consent"] is True
