"""The official `openai` Python client, unchanged, against a live Easel: uvicorn serving the async
views, a real Celery worker running the tiny pipeline, PostgreSQL and Redis.

One server and one worker serve the whole module (starting them takes seconds); each test makes
its own customer, committed (transactional tests) so the server's processes see it.
"""

import base64
import io
import json

import httpx
import openai
import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage

from accounts.services.rate_limits import rate_limit_consume
from tests.generation.api_helpers import balance, customer, png_bytes, rgba_with_transparent_square
from tests.generation.live_server import live_easel_start

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
        client.images.generate(prompt="a cat", size="1792x1024")
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
