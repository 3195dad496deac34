"""Parameters checked once (generation.services.parameters), with strict types, as OpenAI answers;
and the preflight's `affordable`, which says no whenever the reservation would."""

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from billing.models import Reservation, Wallet
from common.errors import InvalidRequest
from generation.models import Generation
from generation.services.admission import admission_admit
from moderation.services.enforcement import suspension_create
from tests.generation.api_helpers import customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _request_thread(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = False


def _post(path: str, body: dict[str, Any], who) -> Any:  # type: ignore[no-untyped-def]
    return Client().post(path, body, content_type="application/json", **who.auth)


WRONG_TYPES = [
    ({"prompt": 123}, "prompt", "Invalid type for 'prompt': expected a string, but got an integer"),
    ({"prompt": ["a cat"]}, "prompt", "expected a string, but got an array"),
    ({"prompt": "a cat", "n": "2"}, "n", "Invalid type for 'n': expected an integer, but got a"),
    ({"prompt": "a cat", "n": True}, "n", "expected an integer, but got a boolean"),
    ({"prompt": "a cat", "n": 1.5}, "n", "expected an integer, but got a decimal"),
    ({"prompt": "a cat", "size": 256}, "size", "expected a string, but got an integer"),
    ({"prompt": "a cat", "user": 7}, "user", "expected a string, but got an integer"),
]  # fmt: skip


@pytest.mark.parametrize("steps", [0, 51])
def test_steps_outside_1_to_50_are_refused_on_steps_and_change_nothing(settings, steps):  # type: ignore[no-untyped-def]
    """`steps` is the service's own knob (no API takes it): the parameters step bounds it."""
    who = customer(tier="pro", credits=100, settings=settings)
    with pytest.raises(InvalidRequest, match="between 1 and 50") as refused:
        admission_admit(
            user=who.user, source="web", operation="generate", prompt="a cat", steps=steps
        )
    assert refused.value.param == "steps"
    assert not Generation.objects.filter(user=who.user).exists()
    assert not Reservation.objects.filter(wallet__user=who.user).exists()


@pytest.mark.parametrize("path", ["/v1/images/generations", "/api/v1/generations"])
@pytest.mark.parametrize(("body", "param", "words"), WRONG_TYPES)
def test_a_wrong_json_type_is_a_400_on_that_field_and_changes_nothing(
    settings, path, body, param, words
):  # type: ignore[no-untyped-def]
    who = customer(tier="pro", credits=100, settings=settings)
    response = _post(path, body, who)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (
        param,
        "invalid_type",
        "invalid_request_error",
    )
    assert words in error["message"]
    assert not Generation.objects.filter(user=who.user).exists()
    assert not Reservation.objects.filter(wallet__user=who.user).exists()


@pytest.mark.parametrize(
    ("values", "param"),
    [({"prompt": 123}, "prompt"), ({"n": True}, "n"), ({"n": "2"}, "n"), ({"seed": "7"}, "seed")],
)
def test_the_service_refuses_wrong_types_from_any_caller(settings, values, param):  # type: ignore[no-untyped-def]
    """The studio and extend frames reach the same check as the APIs."""
    who = customer(tier="pro", credits=100, settings=settings)
    request = {"prompt": "a cat", "n": 1, "size": 256, **values}
    with pytest.raises(InvalidRequest) as refused:
        admission_admit(user=who.user, source="web", operation="generate", **request)
    assert refused.value.param == param
    assert not Generation.objects.filter(user=who.user).exists()


PREFLIGHT = {"prompt": "a lighthouse at dusk", "n": 1, "size": "256x256"}


def _preflight(who) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = _post("/api/v1/generations/preflight", PREFLIGHT, who)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_preflight_is_affordable_for_a_customer_who_can_pay(settings):  # type: ignore[no-untyped-def]
    who = customer(tier="pro", credits=100, settings=settings)
    answer = _preflight(who)
    assert answer["affordable"] is True and answer["unaffordable_reason"] == ""


@pytest.mark.parametrize("blocker", ["frozen", "debt", "key cap", "suspended", "no credits"])
def test_preflight_is_unaffordable_whenever_the_reservation_would_refuse(settings, blocker):  # type: ignore[no-untyped-def]
    who = customer(tier="pro", credits=0 if blocker == "no credits" else 100, settings=settings)
    wallet = Wallet.objects.filter(user=who.user)
    if blocker == "frozen":
        wallet.update(frozen_at=timezone.now())
    elif blocker == "debt":
        wallet.update(debt=5)
    elif blocker == "key cap":
        ApiKey.objects.filter(pk=who.key.pk).update(monthly_credit_cap=0)
    elif blocker == "suspended":
        suspension_create(user=who.user, reason="strikes", ends_at=None, actor=None)
    answer = _preflight(who)
    assert answer["affordable"] is False and answer["unaffordable_reason"]


def test_preflight_judges_the_upload_it_is_given(settings):  # type: ignore[no-untyped-def]
    """An upload is read and checked like a job's (a broken PNG is a 400 on `image`)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    who = customer(tier="pro", credits=100, settings=settings)
    broken = SimpleUploadedFile("i.png", b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")
    response = Client().post(
        "/api/v1/generations/preflight",
        {"operation": "variation", "n": "1", "size": "256x256", "image": broken},
        **who.auth,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "image"


@pytest.mark.parametrize(
    ("source", "native", "expected"),
    [
        (None, 512, "512x512"),  # no upload: the native square
        ((1536, 1024), 512, "576x384"),  # 3:2 exactly, no more pixels than 512x512
        ((1024, 1536), 512, "384x576"),  # portrait keeps its orientation
        ((1920, 1080), 512, "640x384"),  # 16:9 within 10 %: more pixels than a truer 3:2 grid
        ((4000, 1000), 512, "768x256"),  # 4:1 clamped to 3:1
        ((1000, 1001), 256, "256x256"),  # nearly square
    ],
)
def test_auto_follows_the_uploads_shape_and_never_costs_more_than_the_native_square(
    source, native, expected
):  # type: ignore[no-untyped-def]
    from generation.services.image_options import size_auto, size_parse

    size = size_auto(native_size=native, max_pixels=10**7, source=source)
    assert size.label == expected
    assert size.pixels <= native * native
    assert size_parse(size.label) == size  # on the grid, within 3:1


def test_auto_fits_the_plans_cap_in_the_uploads_shape():  # type: ignore[no-untyped-def]
    from generation.services.image_options import size_auto

    size = size_auto(native_size=1024, max_pixels=512 * 512, source=(1600, 900))
    assert size.pixels <= 512 * 512 and size.width > size.height
