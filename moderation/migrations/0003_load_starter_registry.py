"""Load the starter registry of living public figures (moderation/data/public_figures.jsonl).

Idempotent: figures already present (by name) are left as they are, so staff edits survive a
re-run. Reversing removes only the starter figures that have no reference faces.
"""

import json
from pathlib import Path

from django.db import migrations

STARTER = Path(__file__).resolve().parent.parent / "data" / "public_figures.jsonl"


def _rows():
    with STARTER.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load(apps, schema_editor):
    PublicFigure = apps.get_model("moderation", "PublicFigure")
    present = set(PublicFigure.objects.values_list("name", flat=True))
    PublicFigure.objects.bulk_create(
        [
            PublicFigure(
                name=row["name"],
                aliases=row.get("aliases", []),
                ambiguous_aliases=row.get("ambiguous_aliases", []),
                category=row.get("category", ""),
            )
            for row in _rows()
            if row["name"] not in present
        ],
        batch_size=500,
    )


def unload(apps, schema_editor):
    PublicFigure = apps.get_model("moderation", "PublicFigure")
    names = [row["name"] for row in _rows()]
    PublicFigure.objects.filter(name__in=names, faces__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0002_seed_policy")]
    operations = [migrations.RunPython(load, unload)]
