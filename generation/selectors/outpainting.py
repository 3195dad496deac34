"""Reads of extensions (outpainting) for their owner's pages."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from common.errors import NotFound
from generation.models import Extension, ExtensionFrame
from generation.selectors.jobs import progress_of


@dataclass(frozen=True)
class ExtensionView:
    extension: Extension
    frames: list[ExtensionFrame]
    done: int
    credits_charged: int
    current: ExtensionFrame | None  # the frame being painted, if any
    current_progress: dict[str, int] | None  # how far its job has got (`progress_of`)


def extension_get_for_owner(*, user: Any, extension_id: Any) -> Extension:
    """The user's own extension; anyone else's is NotFound, never 403."""
    extension = Extension.objects.filter(pk=extension_id, user=user).first()
    if extension is None:
        raise NotFound("No such extension.")
    return extension


def extension_view(*, extension: Extension) -> ExtensionView:
    frames = list(extension.frames.select_related("generation").order_by("index"))
    current = next(
        (f for f in frames if f.status in (ExtensionFrame.Status.STARTING, "running")), None
    )
    return ExtensionView(
        extension=extension,
        frames=frames,
        done=sum(1 for f in frames if f.status == ExtensionFrame.Status.DONE),
        credits_charged=sum(f.generation.credits_captured for f in frames if f.generation),
        current=current,
        current_progress=(
            progress_of(generation=current.generation)
            if current is not None and current.generation is not None
            else None
        ),
    )


def extensions_for_image(*, user: Any, image_id: Any) -> QuerySet[Extension]:
    return Extension.objects.filter(user=user, source_image_id=image_id).order_by("-created_at")
