"""The quarantine: withheld outputs kept for staff only, released on an overturn, purged after
the retention period; no customer URL ever reaches a quarantined image."""

import datetime as dt
import io
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.test import APIClient

from accounts.services.api_keys import ALL_SCOPES, api_key_create
from billing.selectors import balance_summary
from common.errors import Conflict
from generation.models import Generation, Image, QuarantinedImage
from generation.provenance.credentials import credentials_read
from generation.provenance.watermark import id_prefix, watermark_read
from generation.selectors import image_signed_url
from generation.services.quarantine import quarantine_purge, quarantine_release
from generation.services.storage import image_key, signed_url, storage, storage_read
from generation.services.worker import generation_run
from generation.tasks import generation_quarantine_purge_task
from moderation.models import Case, PolicyVersion
from tests.factories import job_admit, staff_with_two_factor

pytestmark = pytest.mark.django_db


def _withhold_everything() -> None:
    """A policy under which output screening withholds every image (the tiny model's noise)."""
    current = PolicyVersion.objects.order_by("-version").first()
    assert current is not None  # seeded by a migration
    rules = {**current.rules, "sexual": {**current.rules["sexual"], "image_threshold": 0.0}}
    PolicyVersion.objects.create(version=current.version + 1, rules=rules, reason="test: withhold")


@pytest.fixture
def withheld(user, django_capture_on_commit_callbacks) -> Generation:  # type: ignore[no-untyped-def]
    """A job run by the worker for real, both of its images withheld by output screening."""
    with django_capture_on_commit_callbacks(execute=False):
        generation = job_admit(
            user=user, source="native_api", operation="generate", prompt="a red boat", n=2,
            size=256, steps=1,
        )  # fmt: skip
    _withhold_everything()
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.BLOCKED
    return generation


def test_the_worker_keeps_withheld_outputs_in_the_quarantine_only(withheld, settings):
    for image in withheld.images.all():
        record = QuarantinedImage.objects.get(image=image)
        assert record.reason == QuarantinedImage.Reason.WITHHELD and record.is_held
        assert record.storage_key == f"quarantine/generations/{withheld.pk}/{image.index}.png"
        picture = PILImage.open(io.BytesIO(storage_read(key=record.storage_key)))
        assert picture.size == (256, 256)
        assert image.storage_key == ""
        assert not storage().exists(image_key(generation_id=withheld.pk, index=image.index))
        retention = dt.timedelta(days=settings.EASEL_QUARANTINE_RETENTION_DAYS)
        assert abs(record.purge_after - (timezone.now() + retention)) < dt.timedelta(minutes=5)


def test_no_customer_url_reaches_a_quarantined_image(withheld, user):
    image = withheld.images.first()
    held = QuarantinedImage.objects.get(image=image).storage_key
    assert image_signed_url(image=image) is None
    with pytest.raises(ValueError, match="staff-only"):
        signed_url(key=held)
    # Even a token correctly signed for the quarantine's key is refused by the media route.
    token = signing.dumps({"k": held, "e": int(time.time()) + 600}, salt="easel.media")
    assert Client().get(reverse("generation-media-signed", args=[token])).status_code == 404
    page = Client()
    page.force_login(user)
    assert page.get(f"/i/{image.pk}/image.png").status_code in (404, 410)
    detail = page.get(f"/i/{image.pk}/").content.decode()  # says it was withheld, to appeal
    assert "quarantine" not in detail and "/api/v1/media/" not in detail
    api = APIClient()
    api.credentials(
        HTTP_AUTHORIZATION="Bearer "
        + api_key_create(user=user, name="q", scopes=sorted(ALL_SCOPES)).secret
    )
    assert api.get(f"/api/v1/images/{image.pk}").status_code == 404
    assert str(image.pk) not in api.get("/api/v1/images").content.decode()
    generation = api.get(f"/api/v1/generations/{withheld.pk}").json()
    assert generation["images"] == [] and held not in str(generation)
    assert api.post(f"/api/v1/images/{image.pk}/share", {}, format="json").status_code in (
        400,
        404,
    )


def test_staff_see_the_quarantined_image_blurred_on_the_case_page(withheld):
    image = withheld.images.first()
    case = Case.objects.create(
        source=Case.Source.WITHHELD_OUTPUT, image_id=image.pk, generation_id=withheld.pk
    )
    staff = Client()
    staff.force_login(staff_with_two_factor())
    page = staff.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'class="tile reveal-wrap blurred"' in page and "quarantined" in page
    served = staff.get(f"/console/images/{image.pk}.png")
    assert served.status_code == 200
    held = QuarantinedImage.objects.get(image=image).storage_key
    assert b"".join(served.streaming_content) == storage_read(key=held)


def test_release_delivers_the_image_marked_and_free_once(
    withheld, user, django_capture_on_commit_callbacks
):
    balance = balance_summary(user=user).balance
    image = withheld.images.order_by("index").first()
    held = QuarantinedImage.objects.get(image=image).storage_key
    with django_capture_on_commit_callbacks(execute=True):
        released = quarantine_release(image_id=image.pk, actor=None, reason="overturned")
    assert released.status == Image.Status.DELIVERED
    picture = PILImage.open(io.BytesIO(storage_read(key=released.storage_key)))
    assert watermark_read(picture).id_prefix == id_prefix(image.pk)
    credentials = credentials_read(storage_read(key=released.storage_key), "image/png")
    assert credentials is not None and credentials.by_easel and credentials.image_id == image.pk
    assert picture.text["easel:generation_id"] == str(withheld.pk)
    assert not storage().exists(held)
    assert image_signed_url(image=released).startswith("http")
    withheld.refresh_from_db()
    assert withheld.status == Generation.Status.SUCCEEDED and withheld.withheld_count == 1
    assert withheld.credits_captured == 0
    assert balance_summary(user=user).balance == balance  # free
    again = quarantine_release(image_id=image.pk, actor=None, reason="overturned")
    assert again.storage_key == released.storage_key
    withheld.refresh_from_db()
    assert withheld.withheld_count == 1


def test_purge_deletes_what_is_past_retention_except_what_a_case_still_looks_at(withheld, settings):
    first, second = withheld.images.order_by("index")
    Case.objects.create(source=Case.Source.APPEAL, image_id=second.pk, generation_id=withheld.pk)
    later = timezone.now() + dt.timedelta(days=settings.EASEL_QUARANTINE_RETENTION_DAYS + 1)
    assert quarantine_purge(now=timezone.now()) == 0  # nothing is due yet
    assert quarantine_purge(now=later) == 1
    gone, kept = (QuarantinedImage.objects.get(image=image) for image in (first, second))
    assert gone.purged_at is not None and not storage().exists(gone.storage_key)
    assert kept.is_held and storage().exists(kept.storage_key)
    with pytest.raises(Conflict, match="cannot be given back"):
        quarantine_release(image_id=first.pk, actor=None, reason="too late")
    first.refresh_from_db()
    assert first.status == Image.Status.WITHHELD
    Case.objects.filter(image_id=second.pk).update(state=Case.State.RESOLVED)
    QuarantinedImage.objects.filter(image=second).update(purge_after=timezone.now())
    generation_quarantine_purge_task()  # what beat runs
    assert not storage().exists(kept.storage_key)


def test_a_take_down_is_quarantined_and_restored_from_there(
    user, django_capture_on_commit_callbacks
):
    from generation.services.images import image_restore, image_take_down
    from tests.frontend.conftest import stored_image

    image = stored_image(user=user)
    served = storage_read(key=image.storage_key)
    image_take_down(image_id=image.pk, actor=None, reason="policy")
    record = QuarantinedImage.objects.get(image=image)
    assert record.reason == QuarantinedImage.Reason.REMOVED
    assert storage_read(key=record.storage_key) == served
    with django_capture_on_commit_callbacks(execute=True):
        restored = image_restore(image_id=image.pk, actor=None, reason="overturned")
    assert restored.status == Image.Status.DELIVERED
    assert storage_read(key=restored.storage_key) == served  # already marked: copied back as is
    assert not storage().exists(record.storage_key)
