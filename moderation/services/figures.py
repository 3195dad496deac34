"""The public-figure registry: add one figure (with reference photos), import many.

Photos become face embeddings through the image screen's own model
(`moderation.images.faces`), so a reference face and an output face are always compared in
the same space. Every photo is checked before anything is written: one bad photo refuses the
whole call, and the registry is left as it was.
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.db import transaction
from PIL import Image, UnidentifiedImageError

from accounts.models import User
from common.errors import InvalidRequest
from moderation.images.faces import EMBEDDING_MODEL, face_embeddings_from_photo
from moderation.models import FigureFace, PublicFigure
from moderation.services.audit import audit_record
from moderation.text.normalise import normalise
from moderation.text.registry import figure_matcher_invalidate

MAX_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 64  # the column's length
IMPORT_BATCH = 1000
# Column names accepted for the name, so a Wikidata query export imports without editing.
NAME_COLUMNS = ("name", "itemLabel", "label")
ID_COLUMNS = ("external_id", "item", "wikidata_id", "id")
# Short descriptions for description matching; Wikidata's own description ("45th president of
# the United States") is one.
ROLE_COLUMNS = ("roles", "itemDescription", "description")
DIED_COLUMNS = ("died", "died_year", "dateOfDeath", "date_of_death")
# Extra alias columns, one per language of a Wikidata export: label_ru, label_zh, alias_ja, ...
ALIAS_COLUMN_PREFIXES = ("label_", "alias_", "aliases_")
MAX_ROLES = 12


class Writable(Protocol):
    """Where the progress bar goes: a file, or a management command's stderr."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


@dataclass(frozen=True)
class ReferencePhoto:
    """A photo to compute a reference face from; `source_name` is kept for staff."""

    image: Image.Image
    source_name: str = ""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    skipped: int  # rows without a usable name
    errors: list[str]


def figure_add(
    *,
    name: str,
    aliases: Sequence[str] = (),
    ambiguous_aliases: Sequence[str] = (),
    category: str = "",
    photos: Sequence[ReferencePhoto] = (),
    actor: User | None = None,
) -> PublicFigure:
    """Add a figure, or add aliases and photos to the one with this name.

    A photo must show exactly one face; otherwise nothing is written and the error says which
    photo and how many faces it has.
    """
    name = _clean_name(name)
    aliases = _clean_aliases(aliases)
    ambiguous = _clean_aliases(ambiguous_aliases)
    category = category.strip()
    if len(category) > MAX_CATEGORY_LENGTH:
        raise InvalidRequest(
            f"A category is at most {MAX_CATEGORY_LENGTH} characters.", param="category"
        )
    embeddings = [(photo_face_embedding(photo), photo.source_name) for photo in photos]

    with transaction.atomic():
        figure = PublicFigure.objects.select_for_update().filter(name=name).first()
        created = figure is None
        if figure is None:
            figure = PublicFigure.objects.create(
                name=name, aliases=aliases, ambiguous_aliases=ambiguous, category=category
            )
        else:
            figure.aliases = _merge(figure.aliases, aliases)
            figure.ambiguous_aliases = _merge(figure.ambiguous_aliases, ambiguous)
            figure.category = category or figure.category
            figure.is_active = True
            figure.save()
        FigureFace.objects.bulk_create(
            FigureFace(
                figure=figure,
                embedding=embedding,
                embedding_model=EMBEDDING_MODEL,
                source_name=source,
            )
            for embedding, source in embeddings
        )
        audit_record(
            actor=actor,
            action="figure.add" if created else "figure.update",
            target_type="public_figure",
            target_id=figure.pk,
            details={"aliases": aliases, "ambiguous_aliases": ambiguous, "photos": len(embeddings)},
        )
        # Now (this process's next prompt, even inside an outer transaction) and again at
        # commit (in case another thread rebuilt from the table before the row was visible).
        figure_matcher_invalidate()
        transaction.on_commit(figure_matcher_invalidate)
    return figure


def photo_face_embedding(photo: ReferencePhoto) -> list[float]:
    """The embedding of the one face a reference photo must show; InvalidRequest otherwise
    (no face, or several), naming the photo. Shared by the registry and likeness enrolment."""

    label = photo.source_name or "the photo"
    faces = face_embeddings_from_photo(photo.image)
    if len(faces) != 1:
        found = "no face" if not faces else f"{len(faces)} faces"
        raise InvalidRequest(
            f"{label}: found {found}. A reference photo must show exactly one face, "
            "the person's own; crop it to that face and try again.",
            param="photo",
        )
    return faces[0]


def photo_open(path: str | Path) -> ReferencePhoto:
    """Open a photo file for `figure_add`, with a clear error for a missing or broken file."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return ReferencePhoto(image=image.convert("RGB"), source_name=path.name)
    except FileNotFoundError:
        raise InvalidRequest(f"{path}: no such file.", param="photo") from None
    except (UnidentifiedImageError, OSError):
        raise InvalidRequest(f"{path}: not an image file Easel can read.", param="photo") from None


def figures_import(
    *,
    rows: Iterable[dict],
    actor: User | None = None,
    progress_to: Writable | None = None,
    total: int | None = None,
) -> ImportResult:
    """Create or update figures from rows (`name`, `aliases`, `ambiguous_aliases`, `category`,
    `external_id`, `roles`, `died`; a Wikidata export's `itemLabel`, `item`, `itemDescription`,
    `dateOfDeath` and per-language `label_xx` columns, which become aliases), in batches, so a
    100,000-row export imports in seconds and memory stays flat.

    Re-importing the same file changes nothing (idempotent on the name). Existing figures get
    the union of their aliases and the file's.
    """
    created = updated = skipped = 0
    errors: list[str] = []
    batches = _batches(rows, size=IMPORT_BATCH)
    bar = None
    if progress_to is not None:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="figure", desc="Importing figures", file=progress_to)
    for batch in batches:
        parsed = []
        for line_number, row in batch:
            try:
                parsed.append(_parse_row(row))
            except InvalidRequest as error:
                skipped += 1
                if len(errors) < 20:
                    errors.append(f"row {line_number}: {error.message}")
        batch_created, batch_updated = _import_batch(parsed)
        created += batch_created
        updated += batch_updated
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="figure.import",
            target_type="public_figure",
            target_id="*",
            details={"created": created, "updated": updated, "skipped": skipped},
        )
    figure_matcher_invalidate()
    return ImportResult(created=created, updated=updated, skipped=skipped, errors=errors)


def figures_read_file(path: str | Path) -> tuple[Iterator[dict], int]:
    """Rows of a CSV or JSONL file, and how many there are (for the progress bar)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"{path}: no such file.", param="file")
    suffix = path.suffix.lower()
    with path.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path), total
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, delimiter="\t" if suffix == ".tsv" else ","), max(total - 1, 0)
    raise InvalidRequest(f"{path}: use a .csv, .tsv or .jsonl file.", param="file")


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = {"_error": f"line {number} is not valid JSON"}
            yield row if isinstance(row, dict) else {"_error": f"line {number} is not an object"}


def _read_csv(path: Path, *, delimiter: str) -> Iterator[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter)


def _batches(rows: Iterable[dict], *, size: int) -> Iterator[list[tuple[int, dict]]]:
    batch: list[tuple[int, dict]] = []
    for number, row in enumerate(rows, start=1):
        batch.append((number, row))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _parse_row(row: dict) -> PublicFigure:
    if "_error" in row:
        raise InvalidRequest(row["_error"])
    name = next((row[key] for key in NAME_COLUMNS if row.get(key)), "")
    external_id = next((str(row[key]) for key in ID_COLUMNS if row.get(key)), "")
    # Wikidata exports give the entity URL; keep the Q-id.
    external_id = external_id.rsplit("/", 1)[-1][:64]
    name = _clean_name(str(name))
    aliases = _list(row.get("aliases"))
    for column, value in row.items():
        if str(column).startswith(ALIAS_COLUMN_PREFIXES):
            aliases.extend(_list(value))
    roles = [role for column in ROLE_COLUMNS for role in _list(row.get(column))]
    return PublicFigure(
        name=name,
        aliases=[alias for alias in _clean_aliases(aliases) if alias != name],
        ambiguous_aliases=_clean_aliases(_list(row.get("ambiguous_aliases"))),
        category=str(row.get("category") or "")[:MAX_CATEGORY_LENGTH],
        external_id=external_id,
        roles=_clean_aliases(roles)[:MAX_ROLES],
        died_year=_year(next((row[key] for key in DIED_COLUMNS if row.get(key)), None)),
    )


def _year(value: object) -> int | None:
    """A year of death from 2025, "2025" or Wikidata's "2025-04-21T00:00:00Z"; None if absent."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    digits = text[:4] if len(text) >= 4 and text[:4].isdigit() else text
    if not digits.isdigit() or not 1000 <= int(digits) <= 9999:
        raise InvalidRequest(f"'{text}' is not a year of death.", param="died")
    return int(digits)


def _import_batch(figures: list[PublicFigure]) -> tuple[int, int]:
    unique: dict[str, PublicFigure] = {}
    for figure in figures:
        if figure.name in unique:
            kept = unique[figure.name]
            kept.aliases = _merge(kept.aliases, figure.aliases)
            kept.ambiguous_aliases = _merge(kept.ambiguous_aliases, figure.ambiguous_aliases)
            kept.roles = _merge(kept.roles, figure.roles)
        else:
            unique[figure.name] = figure
    with transaction.atomic():
        existing = {
            figure.name: figure
            for figure in PublicFigure.objects.select_for_update().filter(name__in=list(unique))
        }
        to_update = []
        for name, figure in unique.items():
            current = existing.get(name)
            if current is None:
                continue
            aliases = _merge(current.aliases, figure.aliases)
            ambiguous = _merge(current.ambiguous_aliases, figure.ambiguous_aliases)
            roles = _merge(current.roles, figure.roles)[:MAX_ROLES]
            changed = (
                aliases != current.aliases
                or ambiguous != current.ambiguous_aliases
                or roles != current.roles
                or (figure.category and figure.category != current.category)
                or (figure.external_id and figure.external_id != current.external_id)
                or (figure.died_year and figure.died_year != current.died_year)
            )
            if changed:
                current.aliases, current.ambiguous_aliases = aliases, ambiguous
                current.roles = roles
                current.category = figure.category or current.category
                current.external_id = figure.external_id or current.external_id
                current.died_year = figure.died_year or current.died_year
                to_update.append(current)
        new = [figure for name, figure in unique.items() if name not in existing]
        # ignore_conflicts: a figure created by another import between our read and write is
        # left as that import wrote it, never duplicated.
        PublicFigure.objects.bulk_create(new, ignore_conflicts=True)
        if to_update:
            from django.utils import timezone

            now = timezone.now()
            for figure in to_update:
                figure.updated_at = now
            PublicFigure.objects.bulk_update(
                to_update,
                [
                    "aliases",
                    "ambiguous_aliases",
                    "roles",
                    "category",
                    "external_id",
                    "died_year",
                    "updated_at",
                ],
            )
    return len(new), len(to_update)


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidRequest("A figure needs a name.", param="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"A name is at most {MAX_NAME_LENGTH} characters.", param="name")
    if not normalise(name):
        raise InvalidRequest(f"'{name}' has no letters or digits to match on.", param="name")
    return name


def _list(value: object) -> list[str]:
    """Aliases as a list: a JSON list, or one string separated by ';' or '|'."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value)
    for separator in ("|", ";"):
        if separator in text:
            return text.split(separator)
    return [text]


def _clean_aliases(aliases: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for alias in aliases:
        alias = " ".join(str(alias).split())
        if alias and normalise(alias) and alias not in cleaned:
            cleaned.append(alias[:MAX_NAME_LENGTH])
    return cleaned


def _merge(first: list[str], second: list[str]) -> list[str]:
    return first + [alias for alias in second if alias not in first]
