"""Outpainting (DALL-E 2's "extend"): an image placed on a larger canvas, filled frame by frame.

The plan is a list of square frames the size of the source. Each frame is an ordinary edit
generation (`generation_create`: credits, moderation of the prompt, the upload and the outputs,
the watermark all apply) whose image and mask are the canvas cut at the frame: the pixels
already filled are opaque, the rest transparent. Every frame overlaps filled pixels by at least
half a side, so the model sees what it continues. When a frame's generation succeeds, only its
newly painted pixels go onto the canvas: pixels that were filled stay exactly as they were, so
the source comes out pixel-identical. After the last frame the canvas is the stitched image.

Frames run one after another (each needs the one before). `extension_advance` moves an
extension on as far as it can without waiting; the extension page calls it while it polls.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from common.errors import ApiError, InsufficientQuota, InvalidRequest, NotFound
from generation.models import Extension, ExtensionFrame, Generation, Image
from generation.services.storage import storage_delete, storage_read, storage_write

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from accounts.models import User

ImageId = uuid.UUID | str

SCALES = (Decimal("1.5"), Decimal("2"))
# Which sides of the source the canvas grows on.
DIRECTIONS: dict[str, tuple[str, ...]] = {
    "right": ("right",),
    "left": ("left",),
    "down": ("down",),
    "up": ("up",),
    "horizontal": ("left", "right"),
    "vertical": ("up", "down"),
    "around": ("left", "right", "up", "down"),
}
FRAME_SIZES = (256, 512, 1024)
CLAIM_LOST_AFTER_SECONDS = 60


@dataclass(frozen=True)
class Plan:
    frame_size: int
    canvas_width: int
    canvas_height: int
    source_x: int
    source_y: int
    frames: tuple[tuple[int, int], ...]  # top-left corners, in painting order


@dataclass(frozen=True)
class Quote:
    plan: Plan
    credits_per_frame: int

    @property
    def credits(self) -> int:
        return self.credits_per_frame * len(self.plan.frames)


# --- Planning (pure) ----------------------------------------------------------------------


def _scale_parse(scale: str | Decimal) -> Decimal:
    try:
        value = Decimal(str(scale))
    except InvalidOperation:
        value = Decimal(0)
    if value not in SCALES:
        raise InvalidRequest("The canvas can be 1.5 or 2 times the image.", param="scale")
    return value


def _axis(
    *, side: int, scale: Decimal, grow_before: bool, grow_after: bool
) -> tuple[int, int, list[int]]:
    """One axis: canvas length, the source's offset, and frame starts covering the canvas with
    steps of at most half a side (so each frame overlaps its neighbour by half or more)."""
    if not (grow_before or grow_after):
        return side, 0, [0]
    length = int(side * scale)
    extra = length - side
    offset = extra if not grow_after else (extra // 2 if grow_before else 0)
    count = math.ceil(extra / (side / 2)) + 1
    starts = sorted({round(i * extra / (count - 1)) for i in range(count)})
    return length, offset, starts


def extension_plan(*, frame_size: int, scale: str | Decimal, direction: str) -> Plan:
    """The canvas and its frames for a square source of `frame_size` pixels."""
    if frame_size not in FRAME_SIZES:
        raise InvalidRequest(
            "Only square 256, 512 or 1024 pixel images can be extended.", param="image"
        )
    value = _scale_parse(scale)
    sides = DIRECTIONS.get(direction)
    if sides is None:
        raise InvalidRequest("Choose where the canvas grows.", param="direction")
    width, source_x, xs = _axis(
        side=frame_size, scale=value, grow_before="left" in sides, grow_after="right" in sides
    )
    height, source_y, ys = _axis(
        side=frame_size, scale=value, grow_before="up" in sides, grow_after="down" in sides
    )
    limit = settings.EASEL_EXTEND_MAX_CANVAS_SIDE
    if max(width, height) > limit:
        raise InvalidRequest(
            f"The canvas would be {width}×{height} pixels; the largest side allowed is {limit}.",
            param="scale",
        )
    frames = _frames_order(
        frame_size=frame_size, source=(source_x, source_y), corners=[(x, y) for y in ys for x in xs]
    )
    return Plan(frame_size, width, height, source_x, source_y, tuple(frames))


def _frames_order(
    *, frame_size: int, source: tuple[int, int], corners: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Nearest the source first; a frame with nothing left to fill is dropped."""
    filled = [(source[0], source[1])]
    ordered = sorted(
        corners, key=lambda c: ((c[0] - source[0]) ** 2 + (c[1] - source[1]) ** 2, c[1], c[0])
    )
    kept = []
    for corner in ordered:
        if _covered(corner=corner, squares=filled, side=frame_size):
            continue
        kept.append(corner)
        filled.append(corner)
    return kept


def _covered(*, corner: tuple[int, int], squares: list[tuple[int, int]], side: int) -> bool:
    """True when the union of the filled squares covers the frame (checked on a small mask)."""
    mask = PILImage.new("1", (side, side), 0)
    for x, y in squares:
        mask.paste(1, (x - corner[0], y - corner[1], x - corner[0] + side, y - corner[1] + side))
    return mask.getextrema()[0] == 1


# --- Quote and start ----------------------------------------------------------------------


def _source_for_owner(*, user: User, image_id: ImageId) -> Image:
    image = (
        Image.objects.select_related("generation")
        .filter(pk=image_id, generation__user=user, deleted_at__isnull=True)
        .first()
    )
    if image is None:
        raise NotFound("No such image.")
    if image.status != Image.Status.DELIVERED or not image.storage_key:
        raise InvalidRequest("Only a delivered image can be extended.", param="image")
    return image


def extension_quote(
    *, user: User, image_id: ImageId, scale: str | Decimal, direction: str
) -> Quote:
    """What extending this image would paint and cost, without starting anything."""
    from billing.selectors import generation_cost

    image = _source_for_owner(user=user, image_id=image_id)
    if image.width != image.height:
        raise InvalidRequest("Only square images can be extended.", param="image")
    plan = extension_plan(frame_size=image.width, scale=scale, direction=direction)
    return Quote(plan=plan, credits_per_frame=generation_cost(pixels=plan.frame_size**2, n=1))


def extension_start(
    *, user: User, image_id: ImageId, prompt: str, scale: str | Decimal, direction: str
) -> Extension:
    """Checks everything a frame would be refused for, records the plan and the canvas, then
    starts the first frame. A refusal here creates and charges nothing. Not in a transaction:
    each frame's `generation_create` needs its own."""
    from accounts.selectors import tier_limits_check
    from billing.selectors import balance_summary
    from generation.services.generations import MAX_PROMPT_CHARS

    quote = extension_quote(user=user, image_id=image_id, scale=scale, direction=direction)
    if not prompt.strip():
        raise InvalidRequest("Describe the whole picture, including the new area.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is longer than {MAX_PROMPT_CHARS} characters.", param="prompt"
        )
    tier_limits_check(
        user=user, n=1, size=quote.plan.frame_size, operation=Generation.Operation.EDIT
    )
    balance = balance_summary(user=user).balance
    if balance < quote.credits:
        raise InsufficientQuota(
            f"Extending costs {quote.credits} credits and the balance is {balance}.",
            code="insufficient_quota",
        )
    image = _source_for_owner(user=user, image_id=image_id)
    try:
        source = storage_read(key=image.storage_key)
    except (FileNotFoundError, OSError) as error:
        raise InvalidRequest("This image is no longer stored.", param="image") from error
    extension = _extension_record(user=user, image=image, source=source, prompt=prompt, quote=quote)
    return extension_advance(extension_id=extension.pk)


def _extension_record(
    *, user: User, image: Image, source: bytes, prompt: str, quote: Quote
) -> Extension:
    plan = quote.plan
    picture = PILImage.open(io.BytesIO(source)).convert("RGBA")
    canvas = PILImage.new("RGBA", (plan.canvas_width, plan.canvas_height), (0, 0, 0, 0))
    canvas.paste(picture, (plan.source_x, plan.source_y))
    with transaction.atomic():
        extension = Extension.objects.create(
            user=user,
            source_image=image,
            prompt=prompt,
            frame_size=plan.frame_size,
            canvas_width=plan.canvas_width,
            canvas_height=plan.canvas_height,
            source_x=plan.source_x,
            source_y=plan.source_y,
            credits_quoted=quote.credits,
            canvas_key="",
        )
        extension.canvas_key = storage_write(
            key=_canvas_key(extension=extension, done=0), content=_png(canvas)
        )
        extension.save(update_fields=["canvas_key"])
        ExtensionFrame.objects.bulk_create(
            ExtensionFrame(extension=extension, index=i, x=x, y=y)
            for i, (x, y) in enumerate(plan.frames)
        )
    return extension


# --- Advancing ----------------------------------------------------------------------------


def extension_advance(*, extension_id: ImageId) -> Extension:
    """Settles finished frames and starts the next one, as far as it can go without waiting.

    Safe to call from several requests at once: the extension row is locked while a frame is
    claimed or settled, and a claimed frame (STARTING) is never started twice."""
    for _ in range(ExtensionFrame.objects.filter(extension_id=extension_id).count() * 2 + 1):
        if not _step(extension_id=extension_id):
            break
    return Extension.objects.get(pk=extension_id)


def _step(*, extension_id: ImageId) -> bool:
    """One move: settle the running frame or claim the next. True when something changed."""
    with transaction.atomic():
        extension = Extension.objects.select_for_update().get(pk=extension_id)
        if extension.is_final:
            return False
        frame = (
            extension.frames.exclude(status=ExtensionFrame.Status.DONE).order_by("index").first()
        )
        if frame is None:
            _extension_finish(extension=extension, status=Extension.Status.SUCCEEDED, message="")
            return True
        if frame.status == ExtensionFrame.Status.STARTING:
            return _claim_lost_recover(frame=frame)
        if frame.status == ExtensionFrame.Status.RUNNING and frame.generation_id is not None:
            generation = Generation.objects.get(pk=frame.generation_id)
            if not generation.is_final:
                return False
            _frame_settle(extension=extension, frame=frame, generation=generation)
            return True
        frame.status = ExtensionFrame.Status.STARTING
        frame.planned_generation_id = uuid.uuid4()
        frame.claimed_at = timezone.now()
        frame.save(update_fields=["status", "planned_generation_id", "claimed_at"])
        frame_png = _frame_png(extension=extension, frame=frame)
    _frame_start(extension=extension, frame=frame, frame_png=frame_png)
    return True


def _claim_lost_recover(*, frame: ExtensionFrame) -> bool:
    """The outbox of extend frames. A claim older than a minute belongs to a request that died
    between claiming the frame and recording its generation (creating one takes well under a
    second). The claim named the generation's id in advance, so what happened is known: if the
    generation exists, it is recorded on the frame; if not, the frame is claimed afresh (with a
    new id: should the old request only have been slow, its late record is refused and its
    generation canceled, uncharged, by `_frame_start`). True when something changed."""
    if frame.claimed_at is not None and frame.claimed_at > timezone.now() - timedelta(
        seconds=CLAIM_LOST_AFTER_SECONDS
    ):
        return False  # another request is creating its generation right now
    made = None
    if frame.planned_generation_id is not None:
        made = Generation.objects.filter(pk=frame.planned_generation_id).first()
    if made is not None:
        frame.generation, frame.status = made, ExtensionFrame.Status.RUNNING
    else:
        frame.status, frame.planned_generation_id = ExtensionFrame.Status.PLANNED, None
    frame.save(update_fields=["generation", "status", "planned_generation_id"])
    return True


def extensions_advance_running(*, limit: int = 200) -> int:
    """The periodic task's service: extensions keep painting while nobody has the page open.
    Returns how many running extensions it looked at."""
    running = Extension.objects.filter(status=Extension.Status.RUNNING).order_by("updated_at")
    ids = list(running.values_list("pk", flat=True)[:limit])
    for extension_id in ids:
        extension_advance(extension_id=extension_id)
    return len(ids)


def _frame_start(*, extension: Extension, frame: ExtensionFrame, frame_png: bytes) -> None:
    """Outside any transaction, as generation_create requires; a refusal stops the extension."""
    from generation.services.generations import generation_cancel, generation_create

    # Every write below is conditional on this claim: a claim given up as lost meanwhile
    # (`_claim_lost_recover`) belongs to someone else now.
    ours = ExtensionFrame.objects.filter(
        pk=frame.pk,
        status=ExtensionFrame.Status.STARTING,
        planned_generation_id=frame.planned_generation_id,
    )
    try:
        generation = generation_create(
            user=extension.user,
            source=Generation.Source.WEB,
            operation=Generation.Operation.EDIT,
            prompt=extension.prompt,
            n=1,
            size=extension.frame_size,
            image_bytes=frame_png,
            mask_bytes=frame_png,  # its transparent part is the area to paint
            generation_id=frame.planned_generation_id,
        )
    except ApiError as error:
        with transaction.atomic():
            locked = Extension.objects.select_for_update().get(pk=extension.pk)
            if ours.update(status=ExtensionFrame.Status.STOPPED):
                _extension_finish(
                    extension=locked,
                    status=Extension.Status.STOPPED,
                    message=_stop_message(frame=frame, extension=locked, reason=error.message),
                )
        return
    if not ours.update(generation=generation, status=ExtensionFrame.Status.RUNNING):
        logger.warning(
            "extension %s: frame %s was claimed again; canceling %s",
            extension.pk,
            frame.index,
            generation.pk,
        )
        generation_cancel(generation=generation)


def _frame_settle(*, extension: Extension, frame: ExtensionFrame, generation: Generation) -> None:
    """Pastes a finished frame's new pixels onto the canvas, or stops on anything else."""
    output = generation.images.filter(status=Image.Status.DELIVERED).exclude(storage_key="").first()
    if generation.status != Generation.Status.SUCCEEDED or output is None:
        frame.status = ExtensionFrame.Status.STOPPED
        frame.save(update_fields=["status"])
        reason = generation.status_message or f"its generation ended {generation.status}"
        if generation.status == Generation.Status.SUCCEEDED:
            reason = (
                generation.status_message or "its image was not delivered under the content policy"
            )
        _extension_finish(
            extension=extension,
            status=Extension.Status.STOPPED,
            message=_stop_message(frame=frame, extension=extension, reason=reason),
        )
        return
    canvas = PILImage.open(io.BytesIO(storage_read(key=extension.canvas_key))).convert("RGBA")
    painted = PILImage.open(io.BytesIO(storage_read(key=output.storage_key))).convert("RGBA")
    box = (frame.x, frame.y, frame.x + extension.frame_size, frame.y + extension.frame_size)
    region = canvas.crop(box)
    # Filled pixels (alpha 255) stay; the frame's painting shows only where nothing was.
    canvas.paste(PILImage.composite(region, painted, region.getchannel("A")), box)
    old_key = extension.canvas_key
    extension.canvas_key = storage_write(
        key=_canvas_key(extension=extension, done=frame.index + 1), content=_png(canvas)
    )
    extension.save(update_fields=["canvas_key", "updated_at"])
    frame.status = ExtensionFrame.Status.DONE
    frame.save(update_fields=["status"])
    transaction.on_commit(lambda: storage_delete(key=old_key))


def _extension_finish(*, extension: Extension, status: str, message: str) -> None:
    extension.status = status
    extension.status_message = message
    extension.finished_at = timezone.now()
    extension.save(update_fields=["status", "status_message", "finished_at", "updated_at"])


def _stop_message(*, frame: ExtensionFrame, extension: Extension, reason: str) -> str:
    total = extension.frames.count()
    return (
        f"Stopped at frame {frame.index + 1} of {total}: {reason.rstrip('.')}. "
        "No further frame runs or is charged; only the frames that finished were charged."
    )


# --- Pictures -----------------------------------------------------------------------------


def _frame_png(*, extension: Extension, frame: ExtensionFrame) -> bytes:
    canvas = PILImage.open(io.BytesIO(storage_read(key=extension.canvas_key))).convert("RGBA")
    side = extension.frame_size
    return _png(canvas.crop((frame.x, frame.y, frame.x + side, frame.y + side)))


def _canvas_key(*, extension: Extension, done: int) -> str:
    """A new name per finished frame, so a page never shows a half-written file."""
    return f"extensions/{extension.pk}/canvas-{done}.png"


def _png(picture: PILImage.Image) -> bytes:
    if picture.getchannel("A").getextrema()[0] == 255:
        picture = picture.convert("RGB")  # the finished canvas: no alpha to carry
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
