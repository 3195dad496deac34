"""The public-figure matcher and role index built from the registry table, cached per process.

Building the automaton for the starter registry takes well under a second, for 100,000 names
a few seconds: it is built once per process and rebuilt only when the table changed. Whether
it changed is asked of the database (a count, the highest id and the latest `updated_at` of
the figures) at most once every `MODERATION_REGISTRY_RECHECK_SECONDS`, so a figure added by
the staff console in another process is enforced within seconds, without a query per prompt.
Writes in this process (`moderation.services.figures`) invalidate at once.
"""

import threading
import time

from django.conf import settings
from django.db.models import Count, Max

from moderation.models import PublicFigure
from moderation.text.descriptions import DescriptionIndex
from moderation.text.figures import FigureMatcher, RegistryEntry

_lock = threading.Lock()
_cached: dict = {
    "fingerprint": None,
    "matcher": None,
    "descriptions": None,  # role vectors, built on first use (they need the sentence model)
    "entries": None,
    "checked_at": 0.0,
}


def _fingerprint() -> tuple:
    summary = PublicFigure.objects.filter(is_active=True).aggregate(
        count=Count("id"), last_id=Max("id"), changed=Max("updated_at")
    )
    return (summary["count"], summary["last_id"], summary["changed"])


def _entries() -> list[RegistryEntry]:
    rows = PublicFigure.objects.filter(is_active=True).values_list(
        "id", "name", "aliases", "ambiguous_aliases", "roles"
    )
    return [
        RegistryEntry(
            figure_id=figure_id,
            name=name,
            aliases=tuple(aliases or ()),
            ambiguous_aliases=tuple(ambiguous or ()),
            roles=tuple(roles or ()),
        )
        for figure_id, name, aliases, ambiguous, roles in rows.iterator(chunk_size=5000)
    ]


def _current() -> dict:
    now = time.monotonic()
    recheck = float(getattr(settings, "MODERATION_REGISTRY_RECHECK_SECONDS", 5.0))
    if _cached["matcher"] is not None and now - _cached["checked_at"] < recheck:
        return _cached
    fingerprint = _fingerprint()
    with _lock:
        if _cached["matcher"] is None or _cached["fingerprint"] != fingerprint:
            entries = _entries()
            # The role vectors need the sentence model: built lazily, on first use.
            _cached.update(matcher=FigureMatcher(entries), descriptions=None, entries=entries)
            _cached["fingerprint"] = fingerprint
        _cached["checked_at"] = now
        return _cached


def figure_matcher() -> FigureMatcher:
    """The matcher for the active registry, rebuilt when the table changed."""
    return _current()["matcher"]


def figure_descriptions() -> DescriptionIndex:
    """The role index of the active registry (role vectors from the sentence model), rebuilt
    with the matcher when the table changed."""
    from moderation.text.semantic import sentence_encoder

    state = _current()
    index = state["descriptions"]
    if index is None:
        with _lock:
            index = state["descriptions"]
            if index is None:
                index = DescriptionIndex(state["entries"], encoder=sentence_encoder())
                state["descriptions"] = index
    return index


def figure_matcher_invalidate() -> None:
    """Forget the cached matcher: the next prompt rebuilds it from the table."""
    with _lock:
        _cached.update(
            fingerprint=None, matcher=None, descriptions=None, entries=None, checked_at=0.0
        )
