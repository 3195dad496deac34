"""The official `openai` Python client, unchanged, against a live Easel: uvicorn serving the async
views, a real Celery worker running the tiny pipeline, PostgreSQL and Redis.

One server and one worker serve the whole module (starting them takes seconds); each test makes
its own customer, committed (transactional tests) so the server's processes see it.
"""

import asyncio
import base64
import io
import json
import os

import httpx
import numpy as np
import openai
import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage

from accounts.services.rate_limits import rate_limit_consume
from tests.generation.api_helpers import (
    balance,
    customer,
    jpeg_bytes,
    png_bytes,
    rgba_with_transparent_square,
)
from tests.generation.live_server import live_easel_start
from tests.moderation import image_samples

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    if (
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
        or not django_settings.REDIS_URL
    ):
        pytest.skip("needs PostgreSQL and Redis")  # the markers say so too; this avoids the start
    database = django_settings.DATABASES["default"]
    host = f"{database['HOST']}:{database['PORT'] or 5432}"
    database_url = f"postgres://{database['USER']}@{host}/{database['NAME']}"
    server = live_easel_start(database_url=database_url, redis_url=django_settings.REDIS_URL)
    yield server
    server.stop()


def _client(live, secret: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=secret, base_url=f"{live.base_url}/v1", max_retries=0, timeout=180)


def _async_client(live, secret: str) -> openai.AsyncOpenAI:  # type: ignore[no-untyped-def]
    return openai.AsyncOpenAI(
        api_key=secret, base_url=f"{live.base_url}/v1", max_retries=0, timeout=180
    )


def _png_side(data: bytes) -> int:
    picture = PILImage.open(io.BytesIO(data))
    assert picture.format == "PNG"
    return picture.width


def test_generate_with_urls_and_with_b64_json(live, settings):
    who = customer(settings=settings)
    client = _client(live, who.secret)
    result = client.images.generate(
        model="dall-e-2", prompt="a lighthouse at dusk", n=2, size="256x256"
    )
    assert len(result.data) == 2 and result.created > 0
    for image in result.data:
        fetched = httpx.get(image.url, timeout=30)
        assert fetched.status_code == 200 and _png_side(fetched.content) == 256

    encoded = client.images.generate(
        prompt="a lighthouse at dawn", size="256x256", response_format="b64_json"
    )
    assert _png_side(base64.b64decode(encoded.data[0].b64_json)) == 256
    assert encoded.data[0].url is None


def _png(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_edit_and_variation(live, settings):
    who = customer(settings=settings)
    client = _client(live, who.secret)
    edited = client.images.edit(
        image=("door.png", rgba_with_transparent_square(256), "image/png"),
        prompt="a blue window",
        size="256x256",
        response_format="b64_json",
    )
    assert _png_side(base64.b64decode(edited.data[0].b64_json)) == 256

    masked = client.images.edit(
        image=("door.png", png_bytes(256, mode="RGB"), "image/png"),
        mask=("mask.png", rgba_with_transparent_square(256), "image/png"),
        prompt="a blue window",
        size="256x256",
    )
    assert httpx.get(masked.data[0].url, timeout=30).status_code == 200

    varied = client.images.create_variation(
        image=("door.png", png_bytes(256, mode="RGB"), "image/png"),
        n=2,
        size="256x256",
        response_format="b64_json",
    )
    assert [_png_side(base64.b64decode(item.b64_json)) for item in varied.data] == [256, 256]


def test_error_classes(live, settings):
    who = customer(settings=settings)
    client = _client(live, who.secret)
    before = balance(who.user)

    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.generate(prompt="explicit pornographic nude sex scene", size="256x256")
    assert blocked.value.code == "content_policy_violation"
    assert blocked.value.param == "prompt"
    assert blocked.value.request_id  # x-request-id, read by the client

    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(prompt="a cat", size="1600x512")  # aspect over 3:1
    assert bad_size.value.param == "size"

    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        _client(live, "sk-this-key-does-not-exist-0000000000000000").images.generate(prompt="a cat")
    assert unauthenticated.value.code == "invalid_api_key"

    assert balance(who.user) == before  # nothing charged by any of it


def test_rate_limit_and_quota_are_rate_limit_errors(live, settings):
    limited = customer(tier="free", settings=settings)
    for _ in range(limited.user.tier.requests_per_minute):
        rate_limit_consume(
            user=limited.user, api_key=limited.key
        )  # the same Redis the server counts in
    with pytest.raises(openai.RateLimitError) as throttled:
        _client(live, limited.secret).images.generate(prompt="a cat", size="256x256")
    assert throttled.value.code == "rate_limit_exceeded"
    assert throttled.value.response.headers["x-ratelimit-remaining-requests"] == "0"

    broke = customer(credits=0, settings=settings)
    with pytest.raises(openai.RateLimitError) as no_credits:
        _client(live, broke.secret).images.generate(prompt="a cat", size="256x256")
    assert no_credits.value.code == "insufficient_quota"


def test_native_job_with_server_sent_events(live, settings):
    """The native API on the same server: 202, then the SSE stream until the job ends."""
    who = customer(settings=settings)
    headers = {"Authorization": f"Bearer {who.secret}"}
    job = httpx.post(
        f"{live.base_url}/api/v1/generations",
        headers=headers,
        timeout=30,
        json={"prompt": "a lighthouse at dusk", "size": "256x256", "n": 1},
    )
    assert job.status_code == 202, job.text
    events = []
    with httpx.stream(
        "GET",
        f"{live.base_url}/api/v1/generations/{job.json()['id']}/events",
        headers=headers,
        timeout=180,
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "succeeded"
    assert any(event["status"] == "running" for event in events) or len(events) >= 2
    polled = httpx.get(
        f"{live.base_url}/api/v1/generations/{job.json()['id']}", headers=headers
    ).json()
    assert polled["status"] == "succeeded" and len(polled["images"]) == 1


# --- Today's Images API parameters (docs/api.md, "Parameters") ---------------------------------


def _generations(who) -> int:  # type: ignore[no-untyped-def]
    from generation.models import Generation

    return Generation.objects.filter(user=who.user).count()


def test_a_free_users_plainest_call_works(live, settings):
    """No default may fail a plan: `auto` is the model's native size within the plan's pixels."""
    who = customer(tier="free", settings=settings)
    result = _client(live, who.secret).images.generate(prompt="a lighthouse at dusk")
    assert result.size == "256x256" and result.output_format == "png"
    assert result.quality == "medium" and result.background == "opaque"
    assert result.usage is not None and result.usage.input_tokens > 0
    assert result.usage.model_extra["credits"] == 1
    assert httpx.get(result.data[0].url, timeout=30).status_code == 200


def test_every_generation_option_is_honoured(live, settings):
    from generation.models import Generation
    from generation.provenance.credentials import credentials_read

    who = customer(settings=settings)
    client = _client(live, who.secret)
    result = client.images.generate(
        model="gpt-image-1",
        prompt="a lighthouse at dusk",
        size="384x256",
        quality="low",
        output_format="webp",
        output_compression=80,
        moderation="low",
        safety_identifier="end-user-7",
        response_format="b64_json",
        extra_body={"seed": 1234},
    )
    picture = PILImage.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert picture.format == "WEBP" and picture.size == (384, 256)
    assert result.data[0].model_extra["seed"] == 1234  # passed through by the client
    assert (result.size, result.quality, result.output_format) == ("384x256", "low", "webp")
    job = Generation.objects.get(user=who.user)
    assert job.end_user == "end-user-7" and job.moderation == "low" and job.seed == 1234
    assert job.steps == 1  # low: half the tiny model's two default steps
    assert job.model == django_settings.EASEL_MODEL  # gpt-image-1 is an alias

    jpeg = client.images.generate(
        prompt="a lighthouse at dawn",
        size="256x256",
        quality="hd",
        output_format="jpeg",
        output_compression=50,
        response_format="b64_json",
    )
    data = base64.b64decode(jpeg.data[0].b64_json)
    picture = PILImage.open(io.BytesIO(data))
    assert picture.format == "JPEG" and jpeg.quality == "high"
    # The same provenance as a PNG: the text fields (as EXIF) and signed content credentials.
    assert "easel:image_id" in picture.getexif()[0x010E]
    assert credentials_read(data, "image/jpeg") is not None


def test_refusals_change_nothing(live, settings):
    free = customer(tier="free", settings=settings)
    client = _client(live, free.secret)
    before = balance(free.user)
    refusals = [
        ({"output_format": "jpeg", "background": "transparent"}, "background"),
        ({"quality": "ultra"}, "quality"),
        ({"size": "1024x1024"}, "size"),  # over the Free plan's pixels
        ({"size": "1000x1000"}, "size"),  # not multiples of 64
        ({"model": "dall-e-9"}, "model"),
        ({"model": "stabilityai/sd-turbo", "background": "transparent"}, "background"),
    ]
    for extra, param in refusals:
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.generate(prompt="a cat", extra_body=extra)
        assert refused.value.param == param, extra

    too_many = [("door.png", png_bytes(64, mode="RGB"), "image/png")] * 17
    for images, model, code in (
        (too_many, None, "too_many_images"),
        (too_many[:2], "stabilityai/sd-turbo", "references_not_supported"),  # no IP-Adapter
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.edit(image=images, prompt="a door", **({"model": model} if model else {}))
        assert refused.value.param == "image" and refused.value.code == code
    assert balance(free.user) == before and _generations(free) == 0


def test_transparent_backgrounds_are_cut_out_in_png_and_webp(live, settings):
    """The worker runs the model's segmentation model (tiny and random here, so its alpha is
    noise around one half) and delivers the alpha channel."""
    who = customer(settings=settings)
    client = _client(live, who.secret)
    for output_format, pillow_format in (("png", "PNG"), ("webp", "WEBP")):
        result = client.images.generate(
            prompt="a red apple",
            size="256x256",
            background="transparent",
            output_format=output_format,
            response_format="b64_json",
        )
        picture = PILImage.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
        assert picture.format == pillow_format and picture.mode == "RGBA"
        assert picture.getchannel("A").getextrema()[1] < 255  # not an opaque image with alpha
        assert result.background == "transparent"


def test_edits_take_jpeg_and_a_list_and_variations_take_input_fidelity(live, settings):
    who = customer(settings=settings)
    client = _client(live, who.secret)
    photo = io.BytesIO()
    PILImage.new("RGB", (256, 256), (90, 120, 200)).save(photo, format="JPEG")
    edited = client.images.edit(
        image=[("photo.jpg", photo.getvalue(), "image/jpeg")],
        mask=("mask.png", rgba_with_transparent_square(256), "image/png"),
        prompt="a blue window",
        size="256x256",
        output_format="png",
    )
    assert httpx.get(edited.data[0].url, timeout=30).status_code == 200
    varied = client.images.create_variation(
        image=("photo.jpg", photo.getvalue(), "image/jpeg"),
        size="256x256",
        extra_body={"input_fidelity": "high"},
    )
    assert varied.data[0].url


def _noise_png(side: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return _png(PILImage.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)))


def _repainted(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The repainted square of `rgba_with_transparent_square(256)`, averaged over 16 x 16 blocks
    (the watermark differs by image id and averages out)."""
    picture = PILImage.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    return np.asarray(picture.convert("RGB").crop((64, 64, 128, 128)).reduce(16), dtype=float)


def test_the_images_after_the_first_are_references_that_steer_the_edit(live, settings):
    """A list of images: the first is edited, the others condition the result through the
    model's IP-Adapter (random on the tiny model, so any change shows it took effect)."""
    who = customer(settings=settings)
    client = _client(live, who.secret)
    door = ("door.png", rgba_with_transparent_square(256), "image/png")
    listed = client.models.retrieve("easel/tiny")
    assert listed.model_extra and listed.model_extra["easel_reference_images"] is True

    def edit(images):  # type: ignore[no-untyped-def]
        return client.images.edit(
            image=images,
            prompt="a blue window",
            size="256x256",
            response_format="b64_json",
            extra_body={"seed": 11},
        )

    plain = edit([door])
    steered = edit([door, ("ref.png", _noise_png(128, 1), "image/png")])
    again = edit([door, ("ref.png", _noise_png(128, 1), "image/png")])
    red, blue = PILImage.new("RGB", (128, 128), (240, 0, 0)), PILImage.new("RGB", (96, 96), "blue")
    other = edit([door, ("red.png", _png(red), "image/png"), ("blue.png", _png(blue), "image/png")])
    assert np.abs(_repainted(plain) - _repainted(steered)).mean() > 2
    assert np.abs(_repainted(steered) - _repainted(other)).mean() > 1
    assert np.abs(_repainted(steered) - _repainted(again)).mean() < 1  # the same references
    from generation.models import Generation

    jobs = Generation.objects.filter(user=who.user).order_by("created_at")
    assert [job.reference_count for job in jobs] == [0, 1, 1, 2]
    for job in jobs:  # every upload is gone once the job is settled
        for key in job.input_keys:
            assert not os.path.exists(os.path.join(live.media_root, key))


def test_the_async_client_edits_with_references(live, settings):
    who = customer(settings=settings)

    async def edit():  # type: ignore[no-untyped-def]
        client = _async_client(live, who.secret)
        return await client.images.edit(
            image=[
                ("door.png", rgba_with_transparent_square(256), "image/png"),
                ("ref.jpg", jpeg_bytes(128), "image/jpeg"),
            ],
            prompt="a blue window",
            size="256x256",
        )

    result = asyncio.run(edit())
    assert httpx.get(result.data[0].url, timeout=30).status_code == 200
    assert result.usage and result.usage.model_extra["credits"] > 0


def test_a_real_face_among_the_references_is_refused_and_costs_nothing(live, settings):
    free = customer(tier="free", settings=settings)
    client = _client(live, free.secret)
    before = balance(free.user)
    uploads = os.path.join(live.media_root, "uploads")
    stored = sorted(os.listdir(uploads)) if os.path.isdir(uploads) else []
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(
            image=[
                ("door.png", rgba_with_transparent_square(256), "image/png"),
                ("face.png", _png(image_samples.grace_hopper()), "image/png"),
            ],
            prompt="a blue window",
            size="256x256",
        )
    assert refused.value.code == "content_policy_violation" and refused.value.param == "image"
    assert balance(free.user) == before and _generations(free) == 0
    assert (sorted(os.listdir(uploads)) if os.path.isdir(uploads) else []) == stored


def test_an_upload_of_any_shape_is_edited_in_its_shape_and_varied_into_another(live, settings):
    who = customer(settings=settings)
    client = _client(live, who.secret)
    wide = io.BytesIO()
    PILImage.new("RGB", (768, 256), (90, 120, 200)).save(wide, format="JPEG")
    mask = PILImage.new("RGBA", (768, 256), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (320, 64, 448, 192))
    edited = client.images.edit(
        image=("wide.jpg", wide.getvalue(), "image/jpeg"),
        mask=("mask.png", _png(mask), "image/png"),
        prompt="a blue window",
        response_format="b64_json",
    )  # size auto: the upload's 3:1, within the tiny model's 256x256 pixels
    assert edited.size == "384x128"
    picture = PILImage.open(io.BytesIO(base64.b64decode(edited.data[0].b64_json)))
    assert picture.size == (384, 128)
    varied = client.images.create_variation(
        image=("wide.jpg", wide.getvalue(), "image/jpeg"), size="256x256"
    )  # another shape asked: cropped about the centre
    assert varied.size == "256x256" and varied.data[0].url


def test_the_async_client_renders_a_landscape_size(live, settings):
    who = customer(settings=settings)

    async def generate():  # type: ignore[no-untyped-def]
        client = _async_client(live, who.secret)
        return await client.images.generate(
            prompt="a lighthouse at dusk",
            size="1536x1024",
            quality="low",
            response_format="b64_json",
        )

    result = asyncio.run(generate())
    picture = PILImage.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert picture.size == (1536, 1024) and result.size == "1536x1024"
    assert result.usage is not None and result.usage.model_extra["credits"] == 3  # by pixels


def test_streaming_partial_images_then_the_completed_image(live, settings):
    """Sync client, generations: previews decoded from intermediate latents, then the image."""
    who = customer(settings=settings)
    stream = _client(live, who.secret).images.generate(
        prompt="a lighthouse at dusk",
        size="256x256",
        quality="high",  # four steps for the tiny model: three intermediate ones to preview
        stream=True,
        partial_images=2,
    )
    events = list(stream)
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    for event in events:
        picture = PILImage.open(io.BytesIO(base64.b64decode(event.b64_json)))
        assert picture.size == (256, 256)
    completed = events[-1]
    assert completed.size == "256x256" and completed.output_format == "png"
    assert completed.usage.input_tokens > 0 and completed.model_extra["seed"] >= 0


def test_the_async_client_streams_an_edit(live, settings):
    who = customer(settings=settings)

    async def edit():  # type: ignore[no-untyped-def]
        client = _async_client(live, who.secret)
        stream = await client.images.edit(
            image=("door.png", rgba_with_transparent_square(256), "image/png"),
            prompt="a blue window",
            size="256x256",
            quality="high",
            stream=True,
            partial_images=1,
        )
        return [event async for event in stream]

    events = asyncio.run(edit())
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert PILImage.open(io.BytesIO(base64.b64decode(events[-1].b64_json))).size == (256, 256)


def test_partial_images_outside_0_to_3_is_refused(live, settings):
    who = customer(settings=settings)
    with pytest.raises(openai.BadRequestError) as refused:
        _client(live, who.secret).images.generate(prompt="a cat", stream=True, partial_images=4)
    assert refused.value.param == "partial_images"
    assert _generations(who) == 0
