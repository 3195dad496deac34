"""Reference faces of the active likeness enrolments, as one matrix, cached per process.

The same pattern as `moderation.selectors.figures`: one aggregate query per use says whether
the set of active enrolled faces changed (a face added, an enrolment withdrawn or removed, in
any process), and the matrix is reloaded only then. Withdrawal deletes the faces, so a
withdrawn enrolment stops matching at the next image any worker screens.
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max

from moderation.images.faces import EMBEDDING_MODEL
from moderation.models import EnrolledFace, LikenessEnrolment
from moderation.selectors.figures import EMBEDDING_SIZE, FigureReferences


@dataclass(frozen=True)
class EnrolledReferences:
    """`faces` are keyed by enrolment id; `owners` says whose face each enrolment protects
    (None for a public figure enrolled by staff: withheld for everyone)."""

    faces: FigureReferences
    owners: dict[int, int | None]
    figures: dict[int, int | None]  # enrolment id -> its public figure's id, when it has one

    def __len__(self) -> int:
        return len(self.faces)


EMPTY = EnrolledReferences(
    faces=FigureReferences(
        figure_ids=np.zeros(0, dtype=np.int64),
        embeddings=np.zeros((0, EMBEDDING_SIZE), np.float32),
    ),
    owners={},
    figures={},
)
_lock = threading.Lock()
_cached: tuple[tuple, EnrolledReferences] | None = None


def _active_faces():  # type: ignore[no-untyped-def]
    return EnrolledFace.objects.filter(
        embedding_model=EMBEDDING_MODEL, enrolment__state=LikenessEnrolment.State.ACTIVE
    )


def _fingerprint() -> tuple:
    summary = _active_faces().aggregate(
        count=Count("id"),
        last_id=Max("id"),
        face_changed=Max("updated_at"),
        enrolment_changed=Max("enrolment__updated_at"),
    )
    return tuple(summary[key] for key in ("count", "last_id", "face_changed", "enrolment_changed"))


def _load() -> EnrolledReferences:
    rows = [
        row
        for row in _active_faces().values_list(
            "enrolment_id", "embedding", "enrolment__user_id", "enrolment__figure_id"
        )
        if len(row[1]) == EMBEDDING_SIZE
    ]
    if not rows:
        return EMPTY
    return EnrolledReferences(
        faces=FigureReferences(
            figure_ids=np.array([row[0] for row in rows], dtype=np.int64),
            embeddings=np.array([row[1] for row in rows], dtype=np.float32),
        ),
        owners={row[0]: row[2] for row in rows},
        figures={row[0]: row[3] for row in rows},
    )


def enrolled_references() -> EnrolledReferences:
    """The active enrolled faces, reloaded when the table changed."""
    global _cached
    fingerprint = _fingerprint()
    cached = _cached
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != fingerprint:
            _cached = (fingerprint, _load())
        return _cached[1]


def enrolments_for_user(*, user_id: int) -> list[LikenessEnrolment]:
    """A person's own enrolments, newest first, with how many faces each still holds."""
    return list(
        LikenessEnrolment.objects.filter(user_id=user_id, kind=LikenessEnrolment.Kind.SELF)
        .annotate(face_count=Count("faces"))
        .order_by("-created_at")
    )


def enrolments_to_review() -> list[LikenessEnrolment]:
    """Active enrolments that look like someone else, oldest first, for staff."""
    return list(
        LikenessEnrolment.objects.filter(
            needs_review=True, state=LikenessEnrolment.State.ACTIVE, reviewed_at__isnull=True
        )
        .select_related("user", "figure")
        .annotate(face_count=Count("faces"))
        .order_by("created_at")
    )
