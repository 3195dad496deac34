"""The extend pages: the canvas preview and cost, starting, the live frames, the stitched
image and its download, and that only the owner reaches any of it."""

import io

import pytest
from PIL import Image as PILImage

from billing.selectors import balance_summary
from generation.models import Extension, Generation, Image
from tests.frontend.conftest import stored_image
from tests.frontend.test_outpainting import textured_image

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_the_page_shows_the_canvas_and_the_cost_before_starting(user_client, user):
    image = textured_image(user=user)
    page = user_client.get(f"/i/{image.pk}/extend").content.decode()
    assert 'data-testid="extend-canvas"' in page and 'viewBox="0 0 512 256"' in page
    assert (
        "2 frames of 256×256" in page
        and '<span id="extend-button-cost">for 2 credits</span>' in page
    )
    quote = user_client.get(
        f"/i/{image.pk}/extend/quote", {"scale": "2", "direction": "around"}
    ).content.decode()
    assert 'viewBox="0 0 512 512"' in quote and "8 frames" in quote
    assert 'data-testid="extend-cost">8 credits' in quote
    assert 'id="extend-button-cost" hx-swap-oob="true">for 8 credits' in quote
    # Without JavaScript, "Show the cost" is a GET of the page with the choices.
    page = user_client.get(
        f"/i/{image.pk}/extend", {"scale": "1.5", "direction": "horizontal", "prompt": "sea"}
    ).content.decode()
    assert "384×256 canvas · 2 frames" in page
    bad = user_client.get(f"/i/{image.pk}/extend/quote", {"scale": "9", "direction": "up"})
    assert "1.5 or 2 times" in bad.content.decode()
    assert not Extension.objects.exists()


def test_start_watch_and_download_the_stitched_image(
    user_client, user, django_capture_on_commit_callbacks
):
    image = textured_image(user=user)
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            f"/i/{image.pk}/extend", {"prompt": "a harbour", "scale": "2", "direction": "right"}
        )
    extension = Extension.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/x/{extension.pk}/"
    page = user_client.get(f"/x/{extension.pk}/").content.decode()
    assert 'hx-post="/x/' in page and "Frame 1 of 2" in page
    for _ in range(6):  # what htmx's polling does
        with django_capture_on_commit_callbacks(execute=True):
            fragment = user_client.post(f"/x/{extension.pk}/progress").content.decode()
        if "hx-post" not in fragment:
            break
    assert "2 frames stitched into one 512×256 image" in fragment
    assert "2 of 2 credits charged" in fragment
    assert balance_summary(user=user).balance == before - 2
    download = user_client.get(f"/x/{extension.pk}/image.png", {"download": "1"})
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    stitched = PILImage.open(io.BytesIO(b"".join(download.streaming_content)))
    assert stitched.size == (512, 256)
    # The image's extend page keeps a link to it.
    assert f"/x/{extension.pk}/" in user_client.get(f"/i/{image.pk}/extend").content.decode()


def test_bad_input_shows_the_reason_and_starts_nothing(user_client, user, settings):
    image = textured_image(user=user)
    before = balance_summary(user=user).balance
    settings.EASEL_EXTEND_MAX_CANVAS_SIDE = 300
    response = user_client.post(
        f"/i/{image.pk}/extend", {"prompt": "sea", "scale": "2", "direction": "right"}
    )
    assert response.status_code == 400
    assert "largest side allowed is 300" in response.content.decode()
    response = user_client.post(
        f"/i/{image.pk}/extend", {"prompt": "sea", "scale": "3", "direction": "right"}
    )
    assert response.status_code == 400
    withheld = stored_image(user=user, status=Image.Status.WITHHELD)
    response = user_client.post(
        f"/i/{withheld.pk}/extend", {"prompt": "sea", "scale": "2", "direction": "right"}
    )
    assert response.status_code == 400 and "delivered" in response.content.decode()
    assert not Extension.objects.exists()
    assert not Generation.objects.filter(operation="edit").exists()
    assert balance_summary(user=user).balance == before


def test_only_the_owner_reaches_an_extension(
    client, user, other_user, django_capture_on_commit_callbacks
):
    from generation.services.outpainting import extension_start

    image = textured_image(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        extension = extension_start(
            user=user, image_id=image.pk, prompt="sea", scale="1.5", direction="right"
        )
    urls = [f"/x/{extension.pk}/", f"/x/{extension.pk}/image.png"]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(other_user)
    for url in urls + [f"/i/{image.pk}/extend", f"/i/{image.pk}/extend/quote"]:
        assert client.get(url).status_code == 404
    assert client.post(f"/x/{extension.pk}/progress").status_code == 404
    response = client.post(
        f"/i/{image.pk}/extend", {"prompt": "sea", "scale": "2", "direction": "right"}
    )
    assert response.status_code == 404
    assert Extension.objects.count() == 1
    assert client.get(f"/x/{extension.pk}/progress").status_code == 405
