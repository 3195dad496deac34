"""The pages anyone can see: landing, Explore, share links (OpenGraph, 404, 410), reports."""

import pytest
from django.urls import reverse

from generation.models import Share
from generation.services.images import image_take_down
from generation.services.sharing import share_enable
from moderation.models import Case, Report
from tests.frontend.conftest import stored_image

pytestmark = pytest.mark.django_db


def test_landing_page_shows_tiers_prices_and_the_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Plans and prices" in body
    assert "Free" in body and "Pro" in body
    assert "Easel does not make images of real public figures" in body
    assert 'rel="stylesheet"' in body and "htmx.min.js" in body


def test_shared_image_page_works_logged_out_with_link_preview_tags(client, user, image, settings):
    settings.SITE_URL = "https://easel.example"
    share = share_enable(user=user, image_id=image.pk)
    response = client.get(f"/s/{share.slug}")
    assert response.status_code == 200
    body = response.content.decode()
    image_url = f"https://easel.example/s/{share.slug}/image.png"
    assert f'<meta property="og:image" content="{image_url}">' in body
    assert '<meta name="twitter:card" content="summary_large_image">' in body
    assert f'<meta property="og:url" content="https://easel.example/s/{share.slug}">' in body
    assert "a lighthouse at dawn" in body
    picture = client.get(f"/s/{share.slug}/image.png")
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_share_is_404_and_a_turned_off_share_is_404(client, user, image):
    assert client.get("/s/nope-nope").status_code == 404
    share = share_enable(user=user, image_id=image.pk)
    Share.objects.filter(pk=share.pk).update(is_active=False)
    assert client.get(f"/s/{share.slug}").status_code == 404
    assert client.get(f"/s/{share.slug}/image.png").status_code == 404


def test_takedown_answers_410_at_once_and_leaves_explore(client, user, image, staff_user):
    share = share_enable(user=user, image_id=image.pk)
    assert share.slug in client.get("/explore/").content.decode()
    image_take_down(image_id=image.pk, actor=staff_user, reason="graphic violence")
    response = client.get(f"/s/{share.slug}")
    assert response.status_code == 410
    assert "This image was removed" in response.content.decode()
    assert client.get(f"/s/{share.slug}/image.png").status_code == 410
    assert share.slug not in client.get("/explore/").content.decode()


def test_deleted_image_share_answers_410(client, user, image):
    from generation.services.images import image_delete

    share = share_enable(user=user, image_id=image.pk)
    image_delete(image=image)
    assert client.get(f"/s/{share.slug}").status_code == 410


def test_explore_lists_only_public_shares(client, user, pro_user):
    public = stored_image(user=user, prompt="a public red fox")
    hidden = stored_image(user=pro_user, prompt="a private blue whale")
    share_enable(user=user, image_id=public.pk)
    share_enable(user=pro_user, image_id=hidden.pk, in_explore=False)
    body = client.get("/explore/").content.decode()
    assert "a public red fox" in body
    assert "a private blue whale" not in body


def test_logged_out_visitor_reports_a_shared_image_and_a_case_opens(client, user, image):
    share = share_enable(user=user, image_id=image.pk)
    response = client.post(f"/s/{share.slug}/report", {"reason": "violence", "details": "gory"})
    assert response.status_code == 302
    report = Report.objects.get(image_id=image.pk)
    assert report.reporter is None and report.reason == "violence"
    assert Case.objects.filter(image_id=image.pk, source=Case.Source.REPORT).exists()
    assert "Thank you" in client.get(f"/s/{share.slug}").content.decode()


def test_report_with_an_unknown_reason_changes_nothing(client, user, image):
    share = share_enable(user=user, image_id=image.pk)
    response = client.post(f"/s/{share.slug}/report", {"reason": "because"}, follow=True)
    assert "Choose what is wrong" in response.content.decode()
    assert not Report.objects.exists() and not Case.objects.exists()


def test_report_on_a_taken_down_image_is_410(client, user, image, staff_user):
    share = share_enable(user=user, image_id=image.pk)
    image_take_down(image_id=image.pk, actor=staff_user, reason="x")
    assert client.post(f"/s/{share.slug}/report", {"reason": "violence"}).status_code == 410
    assert not Report.objects.exists()


def test_signup_and_login_pages_wear_easels_look(client):
    for url in (
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_reset_password"),
    ):
        body = client.get(url).content.decode()
        assert "easel.css" in body and "card card-narrow auth-card" in body, url
