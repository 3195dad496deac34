"""Extend (outpainting): the plan, the frames as real edit generations with the tiny model in
eager mode, the stitched canvas, what it costs, and what bad input leaves untouched."""

import io
import threading
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from PIL import Image as PILImage

from billing.selectors import balance_summary, generation_cost
from common.errors import InsufficientQuota, InvalidRequest, NotFound
from generation.models import Extension, ExtensionFrame, Generation, Image
from generation.services.outpainting import (
    extension_advance,
    extension_plan,
    extension_quote,
    extension_start,
)
from generation.services.storage import storage_read
from tests.factories import UserFactory
from tests.frontend.conftest import stored_image

BLOCKED_PROMPT = "explicit pornographic nude sex scene"


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch):  # type: ignore[no-untyped-def]
    """The tiny model is built from configs: nothing may download weights."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def textured_image(*, user, side: int = 256) -> Image:  # type: ignore[no-untyped-def]
    """A delivered image whose pixels are all different, so a shifted paste would show."""
    image = stored_image(user=user, side=side)
    pixels = np.random.default_rng(3).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    default_storage.delete(image.storage_key)
    image.storage_key = default_storage.save(image.storage_key, ContentFile(buffer.getvalue()))
    image.save(update_fields=["storage_key"])
    return image


def run_to_the_end(extension: Extension, capture) -> Extension:  # type: ignore[no-untyped-def]
    """What the page's polling does: advance until final (each frame's task runs on commit)."""
    for _ in range(10):
        with capture(execute=True):
            extension = extension_advance(extension_id=extension.pk)
        if extension.is_final:
            return extension
    raise AssertionError("the extension did not finish")


@pytest.mark.parametrize(
    ("scale", "direction", "canvas", "source", "frames"),
    [
        ("1.5", "right", (384, 256), (0, 0), [(128, 0)]),
        ("2", "right", (512, 256), (0, 0), [(128, 0), (256, 0)]),
        ("2", "left", (512, 256), (256, 0), [(128, 0), (0, 0)]),
        ("2", "horizontal", (512, 256), (128, 0), [(0, 0), (256, 0)]),
        ("1.5", "around", (384, 384), (64, 64), [(0, 0), (128, 0), (0, 128), (128, 128)]),
    ],
)
def test_the_plan_covers_the_canvas_and_every_frame_overlaps_what_is_filled(
    scale, direction, canvas, source, frames
):
    plan = extension_plan(frame_size=256, scale=scale, direction=direction)
    assert (plan.canvas_width, plan.canvas_height) == canvas
    assert (plan.source_x, plan.source_y) == source
    assert list(plan.frames) == frames
    filled = np.zeros((plan.canvas_height, plan.canvas_width), dtype=bool)
    filled[source[1] : source[1] + 256, source[0] : source[0] + 256] = True
    for x, y in plan.frames:
        window = filled[y : y + 256, x : x + 256]
        assert window.mean() >= 0.5, "each frame continues at least half a frame of pixels"
        assert not window.all(), "each frame has something to paint"
        filled[y : y + 256, x : x + 256] = True
    assert filled.all()


@pytest.mark.django_db
def test_a_two_frame_extension_stitches_a_larger_image_keeping_the_source_exactly(
    user, django_capture_on_commit_callbacks
):
    image = textured_image(user=user)
    quote = extension_quote(user=user, image_id=image.pk, scale="2", direction="right")
    assert len(quote.plan.frames) == 2
    assert quote.credits == 2 * generation_cost(pixels=256 * 256, n=1)
    before = balance_summary(user=user).balance

    with django_capture_on_commit_callbacks(execute=True):
        extension = extension_start(
            user=user, image_id=image.pk, prompt="a harbour at dawn", scale="2", direction="right"
        )
    extension = run_to_the_end(extension, django_capture_on_commit_callbacks)

    assert extension.status == Extension.Status.SUCCEEDED, extension.status_message
    stitched = PILImage.open(io.BytesIO(storage_read(key=extension.canvas_key)))
    assert stitched.size == (512, 256) and stitched.mode == "RGB"
    source = PILImage.open(io.BytesIO(storage_read(key=image.storage_key))).convert("RGB")
    assert np.array_equal(np.asarray(stitched.crop((0, 0, 256, 256))), np.asarray(source))
    # The new area is the frames' painting, not left empty.
    assert np.asarray(stitched.crop((256, 0, 512, 256))).std() > 0
    frames = list(extension.frames.select_related("generation"))
    assert [f.status for f in frames] == ["done", "done"]
    assert {f.generation.operation for f in frames} == {Generation.Operation.EDIT}
    assert {f.generation.size for f in frames} == {256}
    # The cost shown before starting is what was charged.
    assert before - balance_summary(user=user).balance == quote.credits == extension.credits_quoted
    # Advancing a finished extension changes nothing and charges nothing.
    again = run_to_the_end(extension, django_capture_on_commit_callbacks)
    assert again.canvas_key == extension.canvas_key
    assert Generation.objects.filter(user=user, operation="edit").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scale": "3"}, InvalidRequest),
        ({"scale": "abc"}, InvalidRequest),
        ({"direction": "sideways"}, InvalidRequest),
        ({"prompt": "   "}, InvalidRequest),
        ({"prompt": "x" * 1001}, InvalidRequest),
    ],
)
def test_bad_input_changes_nothing(user, change, error):
    image = textured_image(user=user)
    before = balance_summary(user=user).balance
    values = {"prompt": "a harbour", "scale": "2", "direction": "right", **change}
    with pytest.raises(error):
        extension_start(user=user, image_id=image.pk, **values)
    assert not Extension.objects.exists() and not ExtensionFrame.objects.exists()
    assert Generation.objects.filter(operation="edit").count() == 0
    assert balance_summary(user=user).balance == before


@pytest.mark.django_db
def test_a_canvas_too_large_an_image_not_yours_or_not_delivered_changes_nothing(user, settings):
    mine = textured_image(user=user)
    theirs = textured_image(user=UserFactory())
    withheld = stored_image(user=user, status=Image.Status.WITHHELD)
    before = balance_summary(user=user).balance
    settings.EASEL_EXTEND_MAX_CANVAS_SIDE = 400
    with pytest.raises(InvalidRequest, match="largest side allowed is 400"):
        extension_start(user=user, image_id=mine.pk, prompt="sea", scale="2", direction="right")
    settings.EASEL_EXTEND_MAX_CANVAS_SIDE = 2048
    with pytest.raises(NotFound):
        extension_start(user=user, image_id=theirs.pk, prompt="sea", scale="2", direction="right")
    with pytest.raises(InvalidRequest, match="delivered"):
        extension_start(user=user, image_id=withheld.pk, prompt="sea", scale="2", direction="right")
    assert not Extension.objects.exists()
    assert Generation.objects.filter(operation="edit").count() == 0
    assert balance_summary(user=user).balance == before


@pytest.mark.django_db
def test_a_balance_short_of_the_whole_extension_starts_nothing(user):
    from billing.services.credits import credits_adjust

    image = textured_image(user=user)
    balance = balance_summary(user=user).balance
    quote = extension_quote(user=user, image_id=image.pk, scale="2", direction="around")
    staff = UserFactory(is_staff=True)
    credits_adjust(user=user, amount=quote.credits - 1 - balance, actor=staff, reason="test")
    with pytest.raises(InsufficientQuota):
        extension_start(user=user, image_id=image.pk, prompt="sea", scale="2", direction="around")
    assert not Extension.objects.exists()
    assert balance_summary(user=user).balance == quote.credits - 1


@pytest.mark.django_db
def test_a_blocked_frame_stops_the_extension_and_charges_nothing_more(
    user, django_capture_on_commit_callbacks
):
    """A prompt the policy blocks is refused at the first frame's generation_create."""
    image = textured_image(user=user)
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks(execute=True):
        extension = extension_start(
            user=user,
            image_id=image.pk,
            prompt=BLOCKED_PROMPT,
            scale="2",
            direction="right",
        )
    assert extension.status == Extension.Status.STOPPED
    assert "Stopped at frame 1 of 2" in extension.status_message
    assert "No further frame runs or is charged" in extension.status_message
    assert [f.status for f in extension.frames.all()] == ["stopped", "planned"]
    assert balance_summary(user=user).balance == before
    run_to_the_end(extension, django_capture_on_commit_callbacks)
    assert Generation.objects.filter(operation="edit").count() == 0


@pytest.mark.django_db
def test_a_withheld_frame_stops_the_extension_and_nothing_more_runs(
    user, django_capture_on_commit_callbacks
):
    image = textured_image(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        extension = extension_start(
            user=user, image_id=image.pk, prompt="a harbour", scale="2", direction="right"
        )
    first = extension.frames.get(index=0)
    assert first.status == "running"
    # What output screening does to an image it withholds (the frame's task has run).
    Image.objects.filter(generation=first.generation).update(
        status=Image.Status.WITHHELD, storage_key=""
    )
    Generation.objects.filter(pk=first.generation_id).update(
        withheld_count=1, status_message="1 image was not delivered under the content policy."
    )
    balance = balance_summary(user=user).balance
    extension = run_to_the_end(extension, django_capture_on_commit_callbacks)
    assert extension.status == Extension.Status.STOPPED
    assert "frame 1 of 2: 1 image was not delivered" in extension.status_message
    assert [f.status for f in extension.frames.all()] == ["stopped", "planned"]
    assert Generation.objects.filter(operation="edit").count() == 1
    assert balance_summary(user=user).balance == balance


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_concurrent_polls_start_each_frame_once(settings, celery_enqueue_only):
    """Two requests advancing at once (real connections): one claims the frame, the other waits
    on the row lock and finds it claimed. The frame's task is not run here (not eager)."""
    user = UserFactory()
    image = textured_image(user=user)
    extension = _record_only(user=user, image=image)
    barrier = threading.Barrier(4)

    def advance() -> None:
        barrier.wait()
        try:
            extension_advance(extension_id=extension.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=advance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frames = list(ExtensionFrame.objects.filter(extension=extension).order_by("index"))
    assert [f.status for f in frames] == ["running", "planned"]
    assert Generation.objects.filter(user=user, operation="edit").count() == 1


def _record_only(*, user, image) -> Extension:  # type: ignore[no-untyped-def]
    """The extension's rows and canvas, before any frame starts (what extension_start records)."""
    from generation.services.outpainting import _extension_record

    quote = extension_quote(user=user, image_id=image.pk, scale="2", direction="right")
    source = storage_read(key=image.storage_key)
    return _extension_record(user=user, image=image, source=source, prompt="a harbour", quote=quote)


@pytest.mark.django_db
def test_the_periodic_task_finishes_an_extension_nobody_watches(
    user, django_capture_on_commit_callbacks
):
    from frontend.tasks import extensions_advance_task

    image = textured_image(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        extension = extension_start(
            user=user, image_id=image.pk, prompt="a harbour", scale="2", direction="right"
        )
    for _ in range(6):
        with django_capture_on_commit_callbacks(execute=True):
            extensions_advance_task.delay()
        extension.refresh_from_db()
        if extension.is_final:
            break
    assert extension.status == Extension.Status.SUCCEEDED, extension.status_message
    assert [f.status for f in extension.frames.all()] == ["done", "done"]


def _claim_died(*, extension: Extension, minutes_ago: float, made: bool = False):  # type: ignore[no-untyped-def]
    """Frame 1 claimed by a request that died `minutes_ago`, before it recorded its generation;
    `made`: after it created the generation (with the id the claim named), before recording it."""
    import uuid

    from django.utils import timezone

    from generation.services.generations import generation_create

    planned = uuid.uuid4()
    frame = ExtensionFrame.objects.get(extension=extension, index=0)
    ExtensionFrame.objects.filter(pk=frame.pk).update(
        status="starting",
        planned_generation_id=planned,
        claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    if made:
        frame.refresh_from_db()
        from generation.services.outpainting import _frame_png

        png = _frame_png(extension=extension, frame=frame)
        generation_create(
            user=extension.user,
            source="web",
            operation="edit",
            prompt=extension.prompt,
            n=1,
            size=extension.frame_size,
            image_bytes=png,
            mask_bytes=png,
            generation_id=planned,
        )
    return planned


@pytest.mark.django_db
@pytest.mark.parametrize("made", [False, True], ids=["before-creating", "after-creating"])
def test_a_claim_whose_request_died_is_recovered_and_each_frame_charged_once(
    user, django_capture_on_commit_callbacks, made
):
    image = textured_image(user=user)
    extension = _record_only(user=user, image=image)
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks(execute=not made):
        planned = _claim_died(extension=extension, minutes_ago=0, made=made)
    # A fresh claim: another request is creating the frame's generation; nothing happens.
    assert extension_advance(extension_id=extension.pk).status == Extension.Status.RUNNING
    assert Generation.objects.filter(operation="edit").count() == int(made)
    ExtensionFrame.objects.filter(extension=extension, index=0).update(
        claimed_at=ExtensionFrame.objects.get(extension=extension, index=0).claimed_at
        - timedelta(minutes=2)
    )
    if made:  # its task never ran (the request died before its commit callbacks): the outbox
        from generation.services.outbox import generations_resend

        generation = Generation.objects.get(pk=planned)
        with django_capture_on_commit_callbacks(execute=True):
            generations_resend(now=generation.sent_at + timedelta(hours=1))
    extension = run_to_the_end(extension, django_capture_on_commit_callbacks)
    assert extension.status == Extension.Status.SUCCEEDED, extension.status_message
    frames = list(extension.frames.order_by("index"))
    assert (frames[0].generation_id == planned) is made
    assert Generation.objects.filter(user=user, operation="edit").count() == 2
    assert before - balance_summary(user=user).balance == extension.credits_quoted


@pytest.mark.django_db
def test_a_slow_request_whose_claim_was_taken_over_cancels_its_generation_uncharged(
    user, django_capture_on_commit_callbacks
):
    from generation.services.outpainting import _frame_png, _frame_start

    image = textured_image(user=user)
    extension = _record_only(user=user, image=image)
    before = balance_summary(user=user).balance
    _claim_died(extension=extension, minutes_ago=2)
    slow = ExtensionFrame.objects.get(extension=extension, index=0)  # what the slow request holds
    png = _frame_png(extension=extension, frame=slow)
    with django_capture_on_commit_callbacks(execute=False):  # the new claim's job waits queued
        extension_advance(extension_id=extension.pk)
    taken_over = ExtensionFrame.objects.get(pk=slow.pk)
    assert taken_over.status == "running"
    assert taken_over.planned_generation_id != slow.planned_generation_id
    _frame_start(extension=extension, frame=slow, frame_png=png)  # the slow request goes on
    late = Generation.objects.get(pk=slow.planned_generation_id)
    assert late.status == Generation.Status.CANCELED
    assert ExtensionFrame.objects.get(pk=slow.pk).generation_id == taken_over.generation_id
    one_frame = generation_cost(pixels=256 * 256, n=1)
    assert before - balance_summary(user=user).balance == one_frame  # the new claim's hold only
