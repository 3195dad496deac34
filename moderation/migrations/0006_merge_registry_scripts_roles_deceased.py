"""Bring an existing registry up to the starter file of December 2026: native-script aliases
(Cyrillic, Chinese, Japanese, Korean, Arabic, Devanagari, Hebrew) for the most at-risk figures,
roles ("45th president of the United States") for description matching, and the deceased
figures the policy covers (docs/moderation-policy.md, "Deceased figures").

Idempotent and additive: a figure already present keeps its own aliases and gains the file's;
roles and the year of death are only filled in where empty, so staff edits survive. Reversing
changes nothing (the additions are harmless to keep, and staff may have built on them).
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


def _union(first, second):
    return list(first) + [item for item in second if item not in first]


def merge(apps, schema_editor):
    PublicFigure = apps.get_model("moderation", "PublicFigure")
    present = {figure.name: figure for figure in PublicFigure.objects.all()}
    new = []
    for row in _rows():
        figure = present.get(row["name"])
        if figure is None:
            new.append(
                PublicFigure(
                    name=row["name"],
                    aliases=row.get("aliases", []),
                    ambiguous_aliases=row.get("ambiguous_aliases", []),
                    category=row.get("category", ""),
                    roles=row.get("roles", []),
                    died_year=row.get("died"),
                )
            )
            continue
        aliases = _union(figure.aliases or [], row.get("aliases", []))
        ambiguous = _union(figure.ambiguous_aliases or [], row.get("ambiguous_aliases", []))
        roles = figure.roles or row.get("roles", [])
        died_year = figure.died_year or row.get("died")
        if (aliases, ambiguous, roles, died_year) != (
            figure.aliases,
            figure.ambiguous_aliases,
            figure.roles,
            figure.died_year,
        ):
            figure.aliases, figure.ambiguous_aliases = aliases, ambiguous
            figure.roles, figure.died_year = roles, died_year
            figure.save(
                update_fields=["aliases", "ambiguous_aliases", "roles", "died_year", "updated_at"]
            )
    PublicFigure.objects.bulk_create(new, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0005_figure_roles_and_deceased")]
    operations = [migrations.RunPython(merge, migrations.RunPython.noop)]
