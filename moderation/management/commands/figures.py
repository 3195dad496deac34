"""`python manage.py figures import FILE` and
`python manage.py figures add NAME [--alias A ...] [--photo PATH ...]`."""

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.operator import OperatorCommand
from moderation.services.figures import figure_add, figures_import, figures_read_file, photo_open


class Command(OperatorCommand):
    help = "Manage the public-figure registry: import a CSV/JSONL list, or add one figure."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = self.add_actions(parser, ["import", "add"])
        importing = actions.add_parser(
            "import",
            help="Import figures from a .csv/.tsv (header: name, aliases, ambiguous_aliases, "
            "category, external_id; aliases separated by ';' or '|') or a .jsonl file "
            "(one object per line with the same keys; Wikidata's itemLabel/item are accepted).",
        )
        importing.add_argument("file")
        importing.add_argument("--no-progress", action="store_true", help="No progress bar.")
        add = actions.add_parser("add", help="Add one figure (or add aliases and photos to it).")
        add.add_argument("name")
        add.add_argument(
            "--alias", action="append", default=[], help="A name that blocks anywhere."
        )
        add.add_argument(
            "--ambiguous-alias",
            action="append",
            default=[],
            help="A name that is also a common word ('Swift'): blocks only in a person context.",
        )
        add.add_argument("--category", default="", help="e.g. politician, actor, athlete.")
        add.add_argument(
            "--photo",
            action="append",
            default=[],
            help="A reference photo showing exactly one face: its face embedding is stored.",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "import":
            rows, total = figures_read_file(options["file"])
            result = figures_import(
                rows=rows, progress_to=None if options["no_progress"] else self.stderr, total=total
            )
            for error in result.errors:
                self.stderr.write(f"skipped {error}")
            self.stdout.write(
                f"created {result.created}, updated {result.updated}, skipped {result.skipped}"
            )
            return
        photos = [photo_open(path) for path in options["photo"]]
        figure = figure_add(
            name=options["name"],
            aliases=options["alias"],
            ambiguous_aliases=options["ambiguous_alias"],
            category=options["category"],
            photos=photos,
        )
        self.stdout.write(
            f"{figure.name} (id {figure.pk}): {len(figure.aliases)} aliases, "
            f"{figure.faces.count()} reference faces"
        )
