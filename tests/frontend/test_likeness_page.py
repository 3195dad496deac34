"""The account's likeness page: enrol your own face with consent, see it, withdraw it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import AuditLogEntry, EnrolledFace, LikenessEnrolment
from tests.moderation import image_samples

pytestmark = pytest.mark.django_db


def upload(name: str = "me.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image_samples.astronaut_reference_crop().save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_the_account_page_links_to_the_likeness_page(user_client):  # type: ignore[no-untyped-def]
    assert 'href="/account/likeness/"' in user_client.get("/account/").content.decode()


def test_enrol_without_consent_is_refused_with_the_reason(user_client):  # type: ignore[no-untyped-def]
    response = user_client.post("/account/likeness/", {"photos": [upload()]}, follow=True)
    page = response.content.decode()
    assert "Enrolment needs your consent" in page
    assert not LikenessEnrolment.objects.exists()


def test_enrol_see_and_withdraw(user_client, user):  # type: ignore[no-untyped-def]
    page = user_client.get("/account/likeness/").content.decode()
    assert "I am the person in these photos" in page  # the statement consented to
    assert "You have not enrolled your face." in page

    response = user_client.post(
        "/account/likeness/", {"photos": [upload()], "consent": "on"}, follow=True
    )
    page = response.content.decode()
    assert "Your face is protected" in page and "protecting" in page
    enrolment = LikenessEnrolment.objects.get(user=user, state="active")
    assert enrolment.faces.count() == 1

    response = user_client.post(f"/account/likeness/{enrolment.pk}/withdraw", follow=True)
    assert "The description of your face was deleted" in response.content.decode()
    assert not EnrolledFace.objects.exists()
    assert AuditLogEntry.objects.filter(action="likeness.withdraw", actor=user).exists()


def test_someone_else_cannot_withdraw_it(client, user, other_user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    client.post("/account/likeness/", {"photos": [upload()], "consent": "on"})
    enrolment = LikenessEnrolment.objects.get(user=user)
    client.force_login(other_user)
    client.post(f"/account/likeness/{enrolment.pk}/withdraw")
    enrolment.refresh_from_db()
    assert enrolment.state == "active" and enrolment.faces.count() == 1
