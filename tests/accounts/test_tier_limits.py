"""What a tier allows: n, sizes and uploads, refused before anything is spent."""

import pytest

from accounts.models import Tier
from accounts.selectors import tier_limits_check
from common.errors import InvalidRequest
from tests.factories import UserFactory


@pytest.fixture
def free_user(db):  # type: ignore[no-untyped-def]
    return UserFactory()  # the seeded Free tier: n <= 4, 256 and 512


@pytest.fixture
def plus_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(tier=Tier.objects.get(name="plus"))


def test_the_seeded_free_tier_allows_its_sizes_and_n(free_user):
    for size in (256, "256x256", "512x512"):
        tier_limits_check(user=free_user, n=4, size=size, operation="generate")


@pytest.mark.parametrize("n", [5, 10, 11])
def test_n_above_the_tier_maximum_is_refused_with_param_n(free_user, n):
    with pytest.raises(InvalidRequest) as refused:
        tier_limits_check(user=free_user, n=n, size="256x256", operation="generate")
    assert refused.value.param == "n"
    assert refused.value.status_code == 400
    assert "at most 4" in refused.value.message and f"got {n}" in refused.value.message


@pytest.mark.parametrize("n", [0, -1])
def test_n_below_one_is_refused(free_user, n):
    with pytest.raises(InvalidRequest) as refused:
        tier_limits_check(user=free_user, n=n, size=256, operation="generate")
    assert refused.value.param == "n"


def test_1024_is_not_on_free_but_is_on_plus(free_user, plus_user):
    with pytest.raises(InvalidRequest) as refused:
        tier_limits_check(user=free_user, n=1, size="1024x1024", operation="generate")
    assert refused.value.param == "size"
    assert "over the Free plan's limit of 262,144 pixels" in refused.value.message
    tier_limits_check(user=plus_user, n=10, size="1024x1024", operation="generate")
    # Plans cap pixels, not shapes: any size within the cap is on the plan.
    tier_limits_check(user=free_user, n=1, size="640x384", operation="generate")
    tier_limits_check(user=plus_user, n=1, size="1536x1024", operation="generate")
    tier_limits_check(user=plus_user, n=1, size="1024x1792", operation="generate")


@pytest.mark.parametrize("size", ["1000x1000", "big", "x512", "3072x1024", "2048x2048"])
def test_sizes_that_are_malformed_or_over_the_plan_are_refused(plus_user, size):
    with pytest.raises(InvalidRequest) as refused:
        tier_limits_check(user=plus_user, n=1, size=size, operation="generate")
    assert refused.value.param == "size"


def test_uploads_follow_the_tier(free_user):
    tier_limits_check(user=free_user, n=1, size=256, operation="variation")  # seeded: allowed
    Tier.objects.filter(name="free").update(uploads_allowed=False)
    free_user.tier.refresh_from_db()
    for operation in ("edit", "variation"):
        with pytest.raises(InvalidRequest) as refused:
            tier_limits_check(user=free_user, n=1, size=256, operation=operation)
        assert refused.value.param == "image"
    tier_limits_check(user=free_user, n=1, size=256, operation="generate")


def test_staff_edits_to_a_tier_take_effect(free_user):
    Tier.objects.filter(name="free").update(max_n=2, max_pixels=256 * 256)
    free_user.tier.refresh_from_db()
    with pytest.raises(InvalidRequest):
        tier_limits_check(user=free_user, n=3, size=256, operation="generate")
    with pytest.raises(InvalidRequest):
        tier_limits_check(user=free_user, n=1, size=512, operation="generate")
