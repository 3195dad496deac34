"""The OpenAI-compatible Images API through Django's test client (the async views for real).

Every bad input answers OpenAI's error shape with the right status, param and code, and
changes nothing: no job, no charge, no idempotency record, no file. The views do their database
work in a shared thread pool in production (generation.api.asyncviews.run_sync); here they run
it on the request's thread so they see the test's transaction (test_openai_client.py runs the
production arrangement against a live server).
"""

import pytest

from accounts.services.api_keys import api_key_revoke
from accounts.services.rate_limits import rate_limit_consume
from tests.generation.api_helpers import (
    assert_nothing_charged_or_stored,
    balance,
    customer,
    decompression_bomb_png,
    gif_bytes,
    oversized_png,
    png_bytes,
    rgba_with_transparent_square,
    truncated_png,
    upload,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_thread")]


def _error(response, status: int, *, param: str | None = None, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["x-request-id"]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    # OpenAI's four fields; a block adds the decision and where to appeal it.
    extra = (
        {"decision_id", "appeal_url"} if error.get("code") == "content_policy_violation" else set()
    )
    assert set(error) == {"message", "type", "param", "code"} | extra
    assert error["message"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


# --- /v1/images/generations: parameters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"prompt": "a cat", "size": "1000x1000"}, "size", "invalid_value"),
        ({"prompt": "a cat", "size": "256"}, "size", "invalid_value"),
        ({"prompt": "a cat", "size": "1600x512"}, "size", "invalid_value"),  # aspect over 3:1
        ({"prompt": "a cat", "size": "2048x2048"}, "size", "size_above_limit"),
        ({"prompt": "a cat", "quality": "ultra"}, "quality", "invalid_value"),
        ({"prompt": "a cat", "output_format": "gif"}, "output_format", "invalid_value"),
        (
            {"prompt": "a cat", "output_format": "jpeg", "background": "transparent"},
            "background",
            "invalid_value",
        ),
        ({"prompt": "a cat", "output_compression": 101}, "output_compression", "invalid_value"),
        ({"prompt": "a cat", "moderation": "off"}, "moderation", "invalid_value"),
        (
            {"prompt": "a cat", "stream": True, "partial_images": 4},
            "partial_images",
            "invalid_value",
        ),
        ({"prompt": "a cat", "n": 0}, "n", "integer_below_min_value"),
        ({"prompt": "a cat", "n": 11}, "n", "integer_above_max_value"),
        ({"prompt": "a cat", "n": "many"}, "n", None),
        ({"prompt": "x" * 1001}, "prompt", "string_above_max_length"),
        ({"prompt": "   "}, "prompt", "missing_required_parameter"),
        ({"n": 1}, "prompt", "missing_required_parameter"),
        ({"prompt": "a cat", "response_format": "png"}, "response_format", "invalid_value"),
        ({"prompt": "a cat", "model": "dall-e-9"}, "model", "model_not_found"),
    ],
)
def test_generations_bad_parameters(http, pro, settings, body, param, code):
    before = balance(pro.user)
    response = http.post(
        "/v1/images/generations",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
        **pro.auth,
    )
    _error(response, 400, param=param, code=code)
    assert_nothing_charged_or_stored(
        user=pro.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


def test_generations_prompt_of_exactly_1000_characters_passes_validation(http, pro):
    """The limit is inclusive: 1000 characters are fine (whatever happens after validation)."""
    response = http.post(
        "/v1/images/generations",
        {"prompt": "x" * 1000, "n": 11},
        content_type="application/json",
        **pro.auth,
    )
    _error(response, 400, param="n")  # n is what is wrong, not the prompt


def test_generations_malformed_json(http, pro):
    response = http.post(
        "/v1/images/generations", "{not json", content_type="application/json", **pro.auth
    )
    _error(response, 400, code="invalid_body")


def test_generations_wants_json(http, pro):
    response = http.post("/v1/images/generations", {"prompt": "a cat"}, **pro.auth)  # multipart
    _error(response, 415, code="unsupported_media_type")


def test_tier_limits_apply(http, settings):
    free = customer(tier="free", credits=10, settings=settings)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "a cat", "size": "1024x1024"},
        content_type="application/json",
        **free.auth,
    )
    _error(response, 400, param="size")
    assert_nothing_charged_or_stored(
        user=free.user, credits_before=10, media_root=settings.MEDIA_ROOT
    )


# --- edits and variations: the uploaded PNG, checked by its bytes -------------------------------


def _edit(http, who, **files):  # type: ignore[no-untyped-def]
    data = {"prompt": "a red door", "n": "1", "size": "256x256", **files}
    return http.post("/v1/images/edits", data, HTTP_IDEMPOTENCY_KEY="edit-1", **who.auth)


def _variation(http, who, **files):  # type: ignore[no-untyped-def]
    return http.post("/v1/images/variations", {"n": "1", "size": "256x256", **files}, **who.auth)


BAD_UPLOADS = {
    "gif named png": (lambda: upload("photo.png", gif_bytes()), "image"),
    "wider than 3:1": (lambda: upload("wide.png", png_bytes(256, height=64)), "image"),
    "over 20 MB": (lambda: upload("big.png", oversized_png()), "image"),
    "truncated": (lambda: upload("cut.png", truncated_png()), "image"),
    "decompression bomb": (lambda: upload("bomb.png", decompression_bomb_png()), "image"),
    "empty file": (lambda: upload("empty.png", b""), "image"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_edits_bad_image(http, pro, settings, case):
    make, param = BAD_UPLOADS[case]
    before = balance(pro.user)
    response = _edit(http, pro, image=make())
    _error(response, 400, param=param)
    assert_nothing_charged_or_stored(
        user=pro.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_variations_bad_image(http, pro, settings, case):
    make, param = BAD_UPLOADS[case]
    before = balance(pro.user)
    _error(_variation(http, pro, image=make()), 400, param=param)
    assert_nothing_charged_or_stored(
        user=pro.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


def test_edits_mask_of_another_size(http, pro, settings):
    before = balance(pro.user)
    response = _edit(
        http, pro, image=upload("i.png", png_bytes(64)), mask=upload("m.png", png_bytes(32))
    )
    error = _error(response, 400, param="mask")
    assert "same size" in error["message"]
    assert_nothing_charged_or_stored(
        user=pro.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


def test_edits_without_mask_need_transparency(http, pro, settings):
    response = _edit(http, pro, image=upload("i.png", png_bytes(64, mode="RGB")))
    _error(response, 400, param="image")


def test_edits_and_variations_need_an_image(http, pro):
    _error(_edit(http, pro), 400, param="image", code="missing_required_parameter")
    _error(_variation(http, pro), 400, param="image", code="missing_required_parameter")


def test_edits_need_a_prompt(http, pro):
    response = http.post(
        "/v1/images/edits", {"image": upload("i.png", rgba_with_transparent_square())}, **pro.auth
    )
    _error(response, 400, param="prompt")


def test_edits_bad_parameters_before_the_image_is_read(http, pro):
    response = http.post(
        "/v1/images/edits",
        {"prompt": "p", "n": "11", "image": upload("i.png", rgba_with_transparent_square())},
        **pro.auth,
    )
    _error(response, 400, param="n", code="integer_above_max_value")


def test_uploads_refused_by_declared_type_are_still_judged_by_bytes(http, pro):
    """A real PNG sent as application/octet-stream is a PNG; a GIF sent as image/png is not."""
    gif_as_png = upload("x.png", gif_bytes(), content_type="image/png")
    _error(_variation(http, pro, image=gif_as_png), 400, param="image")


# --- authentication and scopes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "didn't provide an API key"),
        (
            {"HTTP_AUTHORIZATION": "Bearer sk-not-a-real-key-000000000000000000000000"},
            "Incorrect API key",
        ),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, "Malformed"),
    ],
)
def test_401_shapes(http, headers, fragment):
    for path, kwargs in [
        (
            "/v1/images/generations",
            {"data": {"prompt": "a cat"}, "content_type": "application/json"},
        ),
        ("/v1/images/variations", {"data": {"image": upload("i.png", png_bytes())}}),
    ]:
        response = http.post(path, **kwargs, **headers)
        error = _error(response, 401, code="invalid_api_key")
        assert fragment in error["message"]
        assert error["type"] == "invalid_request_error"
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert http.get("/v1/models", **headers).status_code == 401


def test_revoked_key_is_401(http, pro):
    api_key_revoke(key=pro.key)
    _error(http.get("/v1/models", **pro.auth), 401, code="invalid_api_key")


def test_key_without_generate_scope_is_403(http, settings):
    reader = customer(scopes=["images.read"], settings=settings)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "a cat"},
        content_type="application/json",
        **reader.auth,
    )
    error = _error(response, 403, code="missing_scope")
    assert error["type"] == "permission_error"


# --- throttling and credits, before any job exists ---------------------------------------------


def test_rate_limited_is_429_with_headers(http, settings):
    who = customer(tier="free", credits=10, settings=settings)
    for _ in range(who.user.tier.requests_per_minute):
        rate_limit_consume(user=who.user, api_key=who.key)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "a cat", "size": "256x256"},
        content_type="application/json",
        **who.auth,
    )
    error = _error(response, 429, code="rate_limit_exceeded")
    assert error["type"] == "requests"
    assert int(response["retry-after"]) >= 1
    assert response["x-ratelimit-limit-requests"] == str(who.user.tier.requests_per_minute)
    assert response["x-ratelimit-remaining-requests"] == "0"
    assert_nothing_charged_or_stored(
        user=who.user, credits_before=10, media_root=settings.MEDIA_ROOT
    )


# --- models ------------------------------------------------------------------------------------


def test_models_list_and_detail(http, pro, settings):
    listed = http.get("/v1/models", **pro.auth)
    assert listed.status_code == 200 and listed["x-request-id"]
    ids = [m["id"] for m in listed.json()["data"]]
    assert settings.EASEL_MODEL in ids and "dall-e-2" in ids
    assert listed.json()["object"] == "list"
    detail = http.get(f"/v1/models/{settings.EASEL_MODEL}", **pro.auth).json()
    assert detail == {
        "id": settings.EASEL_MODEL,
        "object": "model",
        "created": 0,
        "owned_by": "easel",
        "easel_reference_images": True,  # what the tiny model takes (an IP-Adapter, a remover)
        "easel_transparent_background": True,
    }
    turbo = http.get("/v1/models/stabilityai/sd-turbo", **pro.auth).json()
    assert turbo["easel_reference_images"] is False
    _error(http.get("/v1/models/gpt-99", **pro.auth), 404, param="model", code="model_not_found")


# --- answers: the real pipeline (tiny model, Celery eager) behind the real async view ---------
# Transactional, with the production thread pool: the job is queued on commit and the held
# request waits for it on Redis pub/sub (with REDIS_URL) or the polling fallback (without).

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shared_pool(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = True


def _png_side(data: bytes) -> int:
    from io import BytesIO

    from PIL import Image as PILImage

    picture = PILImage.open(BytesIO(data))
    assert picture.format == "PNG" and picture.width == picture.height
    return picture.width


@live
def test_generations_answer_urls_and_charge_per_image(http, settings, shared_pool):
    from billing.selectors import image_price

    who = customer(settings=settings)
    before = balance(who.user)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "a lighthouse at dusk", "n": 2, "size": "256x256"},
        content_type="application/json",
        **who.auth,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "created",
        "data",
        "background",
        "output_format",
        "quality",
        "size",
        "usage",
    }
    assert len(body["data"]) == 2
    assert body["size"] == "256x256" and body["output_format"] == "png"
    assert body["usage"]["credits"] == 2 and body["usage"]["input_tokens"] > 0
    assert response["x-ratelimit-limit-requests"] and response["x-request-id"]
    for entry in body["data"]:
        assert set(entry) == {"url", "seed"}
        image = http.get(entry["url"].replace(settings.SITE_URL, ""))
        assert image.status_code == 200
        assert (
            _png_side(b"".join(image.streaming_content) if image.streaming else image.content)
            == 256
        )
    assert balance(who.user) == before - 2 * image_price(pixels=256 * 256)

    # The URLs expire after an hour, as OpenAI's do: a minute short still works, past it not.
    import time

    now = time.time  # storage.time is the time module itself: keep the real clock

    path = body["data"][0]["url"].replace(settings.SITE_URL, "")
    for offset, status in [(3540, 200), (3660, 404)]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda offset=offset: now() + offset)
            assert http.get(path).status_code == status


@live
def test_generations_b64_json_and_idempotency_key(http, settings, shared_pool):
    import base64

    from generation.models import Generation

    who = customer(settings=settings)
    before = balance(who.user)
    body = {"prompt": "a lighthouse at dusk", "size": "256x256", "response_format": "b64_json"}
    first = http.post(
        "/v1/images/generations",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-17",
        **who.auth,
    )
    assert first.status_code == 200, first.content
    [entry] = first.json()["data"]
    assert _png_side(base64.b64decode(entry["b64_json"])) == 256
    charged = before - balance(who.user)
    assert charged > 0

    again = http.post(
        "/v1/images/generations",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-17",
        **who.auth,
    )
    assert again.status_code == 200 and again["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert Generation.objects.filter(user=who.user).count() == 1
    assert before - balance(who.user) == charged  # charged once

    other = http.post(
        "/v1/images/generations",
        {**body, "n": 2},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-17",
        **who.auth,
    )
    _error(other, 409, param="Idempotency-Key", code="idempotency_key_reused")
    assert other["x-should-retry"] == "false"
    as_url = http.post(
        "/v1/images/generations",
        {**body, "response_format": "url"},  # the same job, but another answer: another request
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-17",
        **who.auth,
    )
    _error(as_url, 409, param="Idempotency-Key", code="idempotency_key_reused")
    assert Generation.objects.filter(user=who.user).count() == 1


@live
def test_edits_and_variations_answer(http, settings, shared_pool):
    import base64

    who = customer(settings=settings)
    edit = http.post(
        "/v1/images/edits",
        {
            "prompt": "a blue window",
            "size": "256x256",
            "response_format": "b64_json",
            "image": upload("door.png", rgba_with_transparent_square(256)),
        },
        **who.auth,
    )
    assert edit.status_code == 200, edit.content
    assert _png_side(base64.b64decode(edit.json()["data"][0]["b64_json"])) == 256
    variation = http.post(
        "/v1/images/variations",
        {"n": "2", "size": "256x256", "image": upload("door.png", png_bytes(256))},
        **who.auth,
    )
    assert variation.status_code == 200, variation.content
    assert len(variation.json()["data"]) == 2


@live
def test_no_credits_is_insufficient_quota(http, settings, shared_pool):
    broke = customer(credits=0, settings=settings)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "a lighthouse", "size": "256x256"},
        content_type="application/json",
        **broke.auth,
    )
    error = _error(response, 429, code="insufficient_quota")
    assert error["type"] == "insufficient_quota"
    assert_nothing_charged_or_stored(
        user=broke.user, credits_before=0, media_root=settings.MEDIA_ROOT
    )


@live
def test_policy_block_is_400_content_policy_violation(http, settings, shared_pool):
    who = customer(settings=settings)
    before = balance(who.user)
    response = http.post(
        "/v1/images/generations",
        {"prompt": "explicit pornographic nude sex scene", "size": "256x256"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="blocked-1",
        **who.auth,
    )
    error = _error(response, 400, param="prompt", code="content_policy_violation")
    assert "pornographic" not in error["message"]  # never echoes the words that fired
    assert_nothing_charged_or_stored(
        user=who.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )
