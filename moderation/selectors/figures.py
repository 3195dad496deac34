"""Reference faces of the active public figures, as one matrix for fast matching.

Loaded once and cached per process: a GPU worker screens every output image against it. The
cache is checked against a fingerprint of the table on each use (one aggregate query, well
under a millisecond on PostgreSQL), so a figure added, edited, deactivated or deleted by any
process, through any code path (including bulk imports and queryset updates), is seen by the
next image every worker screens, without signals or a shared cache.
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max

from moderation.images.faces import EMBEDDING_MODEL
from moderation.models import FigureFace

EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class FigureReferences:
    """Row i of `embeddings` is a reference face of the figure `figure_ids[i]`."""

    figure_ids: np.ndarray  # shape (n,), int
    embeddings: np.ndarray  # shape (n, 128), float32

    def __len__(self) -> int:
        return len(self.figure_ids)

    def nearest_per_figure(
        self, embedding: list[float], *, max_distance: float
    ) -> list[tuple[int, float]]:
        """(figure id, distance) for every figure with a reference within `max_distance`,
        nearest first; one entry per figure (its closest reference photo)."""
        if not len(self):
            return []
        distances = np.linalg.norm(
            self.embeddings - np.asarray(embedding, dtype=np.float32), axis=1
        )
        best: dict[int, float] = {}
        for index in np.flatnonzero(distances <= max_distance):
            figure_id, distance = int(self.figure_ids[index]), float(distances[index])
            if distance < best.get(figure_id, np.inf):
                best[figure_id] = distance
        return sorted(best.items(), key=lambda item: item[1])

    def nearest(self, embedding: list[float]) -> tuple[int, float] | None:
        """The closest figure whatever the distance (for staff records and tuning)."""
        matches = self.nearest_per_figure(embedding, max_distance=np.inf)
        return matches[0] if matches else None


_EMPTY = FigureReferences(
    figure_ids=np.zeros(0, dtype=np.int64), embeddings=np.zeros((0, EMBEDDING_SIZE), np.float32)
)
_lock = threading.Lock()
_cached: tuple[tuple, FigureReferences] | None = None


def _active_faces():  # type: ignore[no-untyped-def]
    # Only embeddings from the model in use are comparable; rows of another model are skipped.
    return FigureFace.objects.filter(embedding_model=EMBEDDING_MODEL, figure__is_active=True)


def _fingerprint() -> tuple:
    """Changes whenever the set of active reference faces changes: a row added or deleted
    changes the count or the highest id, an edit (through save) the latest `updated_at`, and a
    figure (de)activated even through `queryset.update()` the count."""
    summary = _active_faces().aggregate(
        count=Count("id"),
        last_id=Max("id"),
        face_changed=Max("updated_at"),
        figure_changed=Max("figure__updated_at"),
    )
    return tuple(summary[key] for key in ("count", "last_id", "face_changed", "figure_changed"))


def _load() -> FigureReferences:
    rows = list(_active_faces().values_list("figure_id", "embedding"))
    rows = [(figure_id, vector) for figure_id, vector in rows if len(vector) == EMBEDDING_SIZE]
    if not rows:
        return _EMPTY
    return FigureReferences(
        figure_ids=np.array([figure_id for figure_id, _ in rows], dtype=np.int64),
        embeddings=np.array([vector for _, vector in rows], dtype=np.float32),
    )


def figure_references() -> FigureReferences:
    global _cached
    fingerprint = _fingerprint()
    cached = _cached
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != fingerprint:
            _cached = (fingerprint, _load())
        return _cached[1]


def figure_references_invalidate() -> None:
    """Forget the cached matrix (the next use reloads it)."""
    global _cached
    with _lock:
        _cached = None
