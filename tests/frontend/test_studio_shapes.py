"""The studio's shapes, file formats and transparent background (issue 14): the create and
upload forms offer only the sizes the plan's pixels allow, each priced by billing's one rule,
and every choice reaches the job row; what the menu does not offer is refused by the service, in
its words, with nothing reserved."""

import html
import re

import pytest
from django.test import Client

from billing.selectors import balance_summary, image_price
from generation.models import Generation
from generation.services.image_options import size_parse

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.redis]


def _size_options(body: str) -> list[str]:
    menu = body.split('name="size"')[1].split("</select>")[0]
    return re.findall(r'<option value="([^"]+)"', menu)


def _prices(body: str) -> dict[str, int]:
    listed = re.search(r'data-prices="([^"]*)"', body).group(1)  # type: ignore[union-attr]
    return {
        label: int(credits) for label, credits in (pair.split(":") for pair in listed.split(","))
    }


@pytest.mark.parametrize("path", ["/create/", "/create/upload"])
def test_the_menu_holds_each_shape_the_plan_allows_priced_by_billing(
    path, user_client, user, pro_user
):
    client = Client()  # user_client is the default client, signed in as `user`
    client.force_login(pro_user)
    for who, tier in ((user_client, user.tier), (client, pro_user.tier)):
        body = who.get(path).content.decode()
        offered = _size_options(body)
        assert offered, path
        for label in offered:
            size = size_parse(label)
            assert size is not None and size.pixels <= tier.max_pixels, (tier.name, label)
        # The browser only multiplies: each price is billing's, for that size's pixels.
        assert _prices(body) == {
            label: image_price(pixels=size_parse(label).pixels)  # type: ignore[union-attr]
            for label in offered
        }
    free = _size_options(user_client.get(path).content.decode())
    pro = _size_options(client.get(path).content.decode())
    assert "1536x1024" not in free and "1792x1024" not in free and "384x256" in free
    for label in ("1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"):
        assert label in pro
    for group in ("Square", "Landscape 3:2", "Portrait 2:3", "Wide 16:9", "Tall 9:16"):
        assert f'<optgroup label="{group}">' in html.unescape(client.get(path).content.decode())


@pytest.fixture
def transparent_capable(settings):  # type: ignore[no-untyped-def]
    """The default model with a background remover named, so the service accepts transparent
    (the job is only queued here: no worker runs it)."""
    models = {name: dict(entry) for name, entry in settings.EASEL_MODELS.items()}
    models[settings.EASEL_MODEL]["background_model"] = "briaai/RMBG-1.4"
    settings.EASEL_MODELS = models


@pytest.mark.parametrize(
    ("size", "output_format", "transparent", "expected"),
    [
        ("1024x1024", "png", False, (1024, 1024, "png", "auto")),
        ("1536x1024", "webp", True, (1536, 1024, "webp", "transparent")),
        ("1024x1536", "jpeg", False, (1024, 1536, "jpeg", "auto")),
        ("1792x1024", "png", True, (1792, 1024, "png", "transparent")),
        ("512x896", "webp", False, (512, 896, "webp", "auto")),
    ],
)
def test_each_choice_reaches_the_job_row(
    size, output_format, transparent, expected, client, pro_user, transparent_capable
):
    client.force_login(pro_user)
    data = {"prompt": "a kite over dunes", "n": 1, "size": size, "output_format": output_format}
    if transparent:
        data["transparent"] = "on"
    response = client.post("/create/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = Generation.objects.get(user=pro_user)
    assert (job.width, job.height, job.output_format, job.background) == expected
    assert job.credits_reserved == image_price(pixels=expected[0] * expected[1])


def _refused_with_nothing_reserved(client, user, data: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    before = balance_summary(user=user)
    response = client.post("/create/", data)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not Generation.objects.filter(user=user).exists()
    after = balance_summary(user=user)
    assert (after.balance, after.reserved) == (before.balance, before.reserved)


def test_a_forged_size_over_the_plans_cap_is_refused_in_the_services_words(user_client, user):
    cap = user.tier.max_pixels
    assert cap < 1536 * 1024
    _refused_with_nothing_reserved(
        user_client,
        user,
        {"prompt": "a kite", "n": 1, "size": "1536x1024", "output_format": "png"},
        f"is over your plan's limit of {cap:,} pixels per image",
    )


def test_a_forged_transparent_jpeg_is_refused_in_the_services_words(
    user_client, user, transparent_capable
):
    _refused_with_nothing_reserved(
        user_client,
        user,
        {
            "prompt": "a kite",
            "n": 1,
            "size": "256x256",
            "output_format": "jpeg",
            "transparent": "on",
        },
        "Transparent backgrounds need an output format with alpha",
    )


def test_the_transparent_box_says_it_is_png_and_webp_only(user_client):
    body = user_client.get("/create/").content.decode()
    box = re.search(r'<input type="checkbox" name="transparent"[^>]*>', body).group(0)  # type: ignore[union-attr]
    assert "data-transparent" in box and 'aria-describedby="transparent-help"' in box
    assert "PNG and WebP only" in body and "Not with JPEG" in body
    formats = re.findall(r'<option value="(png|jpeg|webp)"', body)
    assert formats == ["png", "jpeg", "webp"]


def test_a_webp_image_is_served_as_webp_and_downloads_with_its_extension(user_client, user):
    import io

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    from tests.factories import GenerationFactory, ImageFactory

    job = GenerationFactory.create(
        user=user, source=Generation.Source.WEB, size=384, output_format="webp", seed=1
    )
    buffer = io.BytesIO()
    PILImage.new("RGBA", (384, 256), (0, 0, 0, 0)).save(buffer, format="WEBP")
    key = default_storage.save(f"images/{job.pk}/0.webp", ContentFile(buffer.getvalue()))
    image = ImageFactory.create(
        generation=job, seed=1, width=384, height=256, status="delivered", storage_key=key
    )
    response = user_client.get(f"/i/{image.pk}/image.png?download=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert f'filename="easel-{image.pk}.webp"' in response["Content-Disposition"]
    page = user_client.get(f"/i/{image.pk}/").content.decode()
    assert 'data-size="384x256"' in page
