"""Explore: search prompts, sort by newest or most viewed, page through; share pages count
distinct viewers without a write per request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation.models import Share
from generation.services.sharing import share_enable
from tests.factories import UserFactory
from tests.frontend.conftest import stored_image

pytestmark = pytest.mark.django_db


def _shared(user, prompt: str) -> Share:  # type: ignore[no-untyped-def]
    image = stored_image(user=user, prompt=prompt)
    return share_enable(user=user, image_id=image.pk)


def _slugs(body: str, shares: list[Share]) -> list[str]:
    """The shares' slugs in the order the page lists them."""
    found = [(body.find(f'href="/s/{share.slug}"'), share.slug) for share in shares]
    return [slug for position, slug in sorted(found) if position >= 0]


def test_search_matches_every_word_of_the_prompt(client, user):
    lighthouse = _shared(user, "a lighthouse at dawn, watercolour")
    storm = _shared(user, "a lighthouse in a storm, oil painting")
    cat = _shared(user, "a cat asleep on a watercolour blanket")
    body = client.get("/explore/", {"q": "lighthouse"}).content.decode()
    assert _slugs(body, [lighthouse, storm, cat]) == [storm.slug, lighthouse.slug]
    body = client.get("/explore/", {"q": "Watercolour LIGHTHOUSE"}).content.decode()
    assert _slugs(body, [lighthouse, storm, cat]) == [lighthouse.slug]
    empty = client.get("/explore/", {"q": "submarine"}).content.decode()
    assert "No shared image matches “submarine”" in empty
    # A NUL byte (PostgreSQL refuses it in a string) is refused at the edge, not a 500
    # (common.middleware.MalformedInputMiddleware).
    assert client.get("/explore/", {"q": "light\x00house"}).status_code == 400


def test_most_viewed_orders_by_distinct_viewers(client, user):
    quiet = _shared(user, "a quiet pond")
    popular = _shared(user, "a busy market")
    for _ in range(3):
        viewer = UserFactory()
        client.force_login(viewer)
        client.get(f"/s/{popular.slug}")
    client.logout()
    client.get(f"/s/{quiet.slug}")
    popular.refresh_from_db()
    quiet.refresh_from_db()
    assert (popular.view_count, quiet.view_count) == (3, 1)
    newest = client.get("/explore/").content.decode()
    assert _slugs(newest, [quiet, popular]) == [popular.slug, quiet.slug]
    most = client.get("/explore/", {"sort": "views"}).content.decode()
    assert _slugs(most, [quiet, popular]) == [popular.slug, quiet.slug]
    Share.objects.filter(pk=quiet.pk).update(view_count=10)
    most = client.get("/explore/", {"sort": "views"}).content.decode()
    assert _slugs(most, [quiet, popular]) == [quiet.slug, popular.slug]
    assert 'data-testid="view-count">10 people<' in client.get(f"/s/{quiet.slug}").content.decode()
    # An unknown sort is the default, not an error.
    assert client.get("/explore/", {"sort": "'; drop table"}).status_code == 200


def test_a_repeat_view_counts_once_and_writes_nothing(client, user):
    share = _shared(user, "a red door")
    client.get(f"/s/{share.slug}")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            client.get(f"/s/{share.slug}")
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    share.refresh_from_db()
    assert share.view_count == 1


def test_the_owner_viewing_their_own_share_does_not_count(client, user):
    share = _shared(user, "a blue boat")
    client.force_login(user)
    client.get(f"/s/{share.slug}")
    share.refresh_from_db()
    assert share.view_count == 0


def test_paging_keeps_the_search_and_the_sort(client, user, monkeypatch):
    import frontend.views.public as public

    monkeypatch.setattr(public, "EXPLORE_PAGE_SIZE", 2)
    shares = [_shared(user, f"a lighthouse number {i}") for i in range(5)]
    _shared(user, "a teapot")
    first = client.get("/explore/", {"q": "lighthouse", "sort": "views"}).content.decode()
    assert "Page 1 of 3" in first and "5 images matching" in first
    assert 'href="?q=lighthouse&amp;sort=views&amp;page=2"' in first
    third = client.get("/explore/", {"q": "lighthouse", "sort": "views", "page": 3})
    assert len(_slugs(third.content.decode(), shares)) == 1
