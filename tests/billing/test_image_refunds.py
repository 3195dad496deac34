"""Refunding one image of a generation (an overturned removal): exactly its price, once per image,
never more than the generation was charged, safe when two refunds race."""

import uuid

import pytest

from billing.models import LedgerEntry, Reservation, Wallet
from billing.selectors import image_price
from billing.services.credits import (
    credits_capture,
    credits_refund_image,
    credits_reserve,
)
from common.errors import InvalidRequest
from tests.billing.conftest import assert_invariant
from tests.concurrency import run_concurrently

PRICE = image_price(
    pixels=1024 * 1024
)  # 2 credits: a refund of one image is not the whole generation


def _four_images_charged(user) -> uuid.UUID:  # type: ignore[no-untyped-def]
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=4 * PRICE, size=1024)
    credits_capture(generation_id=generation_id, amount=4 * PRICE)
    return generation_id


@pytest.mark.django_db
def test_one_image_refunds_its_price_and_only_once(user_with_balance):
    user = user_with_balance(20)
    generation_id = _four_images_charged(user)
    image_id = uuid.uuid4()
    entry = credits_refund_image(
        generation_id=generation_id, image_id=image_id, amount=PRICE, reason="overturned"
    )
    assert entry is not None and entry.amount == PRICE and entry.kind == LedgerEntry.Kind.REFUND
    assert entry.idempotency_key == f"refund-image:{image_id}"
    again = credits_refund_image(
        generation_id=generation_id, image_id=image_id, amount=PRICE, reason="overturned"
    )
    assert again.pk == entry.pk
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 20 - 4 * PRICE + PRICE
    assert Reservation.objects.get(generation_id=generation_id).refunded == PRICE
    assert_invariant(wallet)


@pytest.mark.django_db
def test_refunds_never_pass_what_was_captured(user_with_balance):
    user = user_with_balance(20)
    generation_id = _four_images_charged(user)
    for _ in range(5):
        credits_refund_image(
            generation_id=generation_id, image_id=uuid.uuid4(), amount=PRICE, reason="overturned"
        )
    assert Reservation.objects.get(generation_id=generation_id).refunded == 4 * PRICE
    assert LedgerEntry.objects.filter(kind="refund").count() == 4  # the fifth had nothing left
    assert Wallet.objects.get(user=user).balance == 20
    assert_invariant(Wallet.objects.get(user=user))


@pytest.mark.django_db
def test_an_uncharged_generation_refunds_nothing(user_with_balance):
    user = user_with_balance(20)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=PRICE)
    assert (
        credits_refund_image(
            generation_id=generation_id, image_id=uuid.uuid4(), amount=PRICE, reason="overturned"
        )
        is None
    )  # still reserved, not captured
    assert (
        credits_refund_image(
            generation_id=uuid.uuid4(), image_id=uuid.uuid4(), amount=PRICE, reason="x"
        )
        is None
    )  # never reserved
    with pytest.raises(InvalidRequest):
        credits_refund_image(
            generation_id=generation_id, image_id=uuid.uuid4(), amount=0, reason="x"
        )
    with pytest.raises(InvalidRequest):
        credits_refund_image(
            generation_id=generation_id, image_id=uuid.uuid4(), amount=1, reason=" "
        )
    assert not LedgerEntry.objects.filter(kind="refund").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_of_one_image_pay_once_and_of_two_images_pay_twice(user_with_balance):
    user = user_with_balance(20)
    generation_id = _four_images_charged(user)
    same, other = uuid.uuid4(), uuid.uuid4()

    def refund(image_id):  # type: ignore[no-untyped-def]
        return lambda: credits_refund_image(
            generation_id=generation_id, image_id=image_id, amount=PRICE, reason="overturned"
        )

    results = run_concurrently([refund(same), refund(same), refund(same), refund(other)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert LedgerEntry.objects.filter(kind="refund").count() == 2
    assert Reservation.objects.get(generation_id=generation_id).refunded == 2 * PRICE
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 20 - 4 * PRICE + 2 * PRICE
    assert_invariant(wallet)
