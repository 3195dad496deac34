"""Reference images: an edit's or variation's images after the first steer the result through
the model's IP-Adapter (a random one on the tiny model). Admitted through the one way in
(counted, validated, screened, stored), run alone in their pipeline call, deleted once settled;
refused with nothing changed where a model takes none."""

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image as PILImage

from generation.models import Generation
from generation.services.storage import storage, storage_read
from generation.services.worker import generation_run
from moderation.models import Decision
from tests.concurrency import run_concurrently
from tests.factories import job_admit, limits_lifted
from tests.generation.api_helpers import (
    assert_nothing_charged_or_stored,
    balance,
    customer,
    jpeg_bytes,
    media_files,
    png_bytes,
    rgba_with_transparent_square,
    upload,
)
from tests.generation.conftest import picture_with_hole
from tests.moderation import image_samples

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_thread")]


def _png(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _noise(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return _png(PILImage.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)))


def _edit(http, who, references, **fields):  # type: ignore[no-untyped-def]
    body = {
        "operation": "edit",
        "prompt": "a blue window",
        "size": "256x256",
        "image": upload("door.png", rgba_with_transparent_square(256)),
        "references": [upload(f"ref-{i}.png", data) for i, data in enumerate(references)],
        **fields,
    }
    return http.post("/api/v1/generations", body, **who.auth)


def test_an_edit_with_references_is_admitted_screened_and_stored(http, pro):
    before = balance(pro.user)
    response = _edit(http, pro, [_noise(300, 200, 1), jpeg_bytes(96)])
    assert response.status_code == 202, response.content
    job = Generation.objects.get(pk=response.json()["id"])
    assert job.reference_count == 2 and len(job.input_reference_keys) == 2
    # Each stored as it was sent, at most 1024 pixels on a side (references are not repainted).
    assert [
        PILImage.open(io.BytesIO(storage_read(key=key))).size for key in job.input_reference_keys
    ] == [(300, 200), (96, 96)]
    decision = Decision.objects.get(stage=Decision.Stage.UPLOAD, generation_id=job.pk)
    assert decision.scores["upload_images"] == {"count": 3, "deciding": 0}
    assert balance(pro.user) == before - job.credits_reserved  # priced by pixels, as any edit


def test_references_are_refused_where_a_model_takes_none_and_nothing_changes(http, pro, settings):
    before = balance(pro.user)
    refusals = [
        ({"model": "stabilityai/sd-turbo"}, [png_bytes(64)], "references_not_supported"),
        ({"operation": "generate"}, [png_bytes(64)], "references_not_supported"),
        ({}, [png_bytes(64)] * 16, "too_many_images"),  # 17 images in all
        ({}, [b"GIF89a not an image"], None),  # each reference is checked as the image is
    ]
    for fields, references, code in refusals:
        response = _edit(http, pro, references, **fields)
        assert response.status_code == 400, (fields, response.content)
        error = response.json()["error"]
        assert error["param"] == "image", error
        if code:
            assert error["code"] == code, error
    assert_nothing_charged_or_stored(
        user=pro.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


def test_a_real_face_among_the_references_is_refused_on_a_plan_without_faces(http, settings):
    free = customer(tier="free", settings=settings)
    before = balance(free.user)
    face = _png(image_samples.grace_hopper())
    response = _edit(http, free, [png_bytes(64, mode="RGB"), face], face_consent="true")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "content_policy_violation" and error["param"] == "image"
    assert "plan" in error["message"]
    assert Decision.objects.filter(user=free.user, stage=Decision.Stage.UPLOAD).count() == 1
    assert_nothing_charged_or_stored(
        user=free.user, credits_before=before, media_root=settings.MEDIA_ROOT
    )


def test_preflight_judges_the_references_too(http, settings):
    free = customer(tier="free", settings=settings)
    decisions = Decision.objects.count()
    response = http.post(
        "/api/v1/generations/preflight",
        {
            "operation": "variation",
            "size": "256x256",
            "image": upload("cat.png", png_bytes(64, mode="RGB")),
            "references": [upload("face.png", _png(image_samples.grace_hopper()))],
        },
        **free.auth,
    )
    assert response.status_code == 200, response.content
    assert response.json()["policy"]["decision"] == "block"
    assert Decision.objects.count() == decisions


def test_a_job_with_references_runs_alone_and_its_inputs_are_deleted_once_settled(
    user, django_capture_on_commit_callbacks
):
    limits_lifted(user)
    source = _png(picture_with_hole(256))

    def queued(**fields):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=False):
            return job_admit(
                user=user,
                source="native_api",
                operation="variation",
                size="256x256",
                image_bytes=source,
                seed=3,
                **fields,
            )

    steered = queued(reference_bytes=(_noise(128, 128, 2),))
    plain = queued()
    assert generation_run(generation_id=steered.pk, worker_id="test-host:1") == [str(steered.pk)]
    steered.refresh_from_db()
    plain.refresh_from_db()
    assert steered.status == Generation.Status.SUCCEEDED
    assert plain.status == Generation.Status.QUEUED  # not a batch mate of a job with references
    assert steered.input_keys and not any(storage().exists(key) for key in steered.input_keys)
    generation_run(generation_id=plain.pk, worker_id="test-host:1")

    def picture(job: Generation) -> np.ndarray:
        key = job.images.get(index=0).storage_key
        image = PILImage.open(io.BytesIO(storage_read(key=key))).convert("RGB").reduce(16)
        return np.asarray(image, dtype=float)

    # The same seed and input: the reference made the difference.
    assert np.abs(picture(steered) - picture(plain)).mean() > 1


def _two_at_once(who) -> list[object]:  # type: ignore[no-untyped-def]
    """Two edits with a reference at once, each on its own thread and PostgreSQL connection:
    their statuses (or what each raised)."""
    from django.test import Client

    def send() -> int:
        return _edit(Client(), who, [_noise(64, 64, 5)]).status_code

    return run_concurrently([send, send])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_loser_of_a_race_for_the_last_slot_leaves_no_upload_behind(
    settings, celery_enqueue_only
):
    """Two edits with references at once from a Free user (one job at a time): both pass the
    early check and store their uploads; the check inside the insert's transaction refuses one,
    whose uploads are then removed."""
    from billing.services.credits import credits_release

    who = customer(tier="free", credits=100, settings=settings)
    for _round in range(3):  # several rounds: a lucky interleaving must not pass by chance
        assert sorted(_two_at_once(who)) == [202, 429]
        job = Generation.objects.get(user=who.user, status="queued")
        stored = sorted(
            os.path.relpath(path, settings.MEDIA_ROOT) for path in media_files(settings.MEDIA_ROOT)
        )
        assert stored == [f"uploads/{job.pk}/image.png", f"uploads/{job.pk}/reference-0.png"]
        shutil.rmtree(os.path.join(settings.MEDIA_ROOT, "uploads"))  # for the next round
        Generation.objects.filter(pk=job.pk).update(status="failed")
        credits_release(generation_id=job.pk)
