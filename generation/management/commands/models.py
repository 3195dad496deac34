"""`python manage.py models fetch|list`: model weights on a worker's disk before it serves."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from accounts.management.operator import OperatorCommand
from generation.inference.registry import model_cache_folder, model_fetched, model_spec
from generation.services.model_cache import model_fetch, models_to_fetch


class Command(OperatorCommand):
    help = (
        "Fetch model weights into EASEL_MODEL_CACHE ahead of time (a deploy step: workers then "
        "load the fetched copy and never download per request), or list what is there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = self.add_actions(parser, ["fetch", "list"])
        fetch = actions.add_parser(
            "fetch",
            help="Fetch models (default: EASEL_WORKER_MODELS) from their source, a hub id or a "
            "local folder. Prints one line per model: id, outcome, files, bytes, folder.",
        )
        fetch.add_argument("--model", action="append", dest="models", help="A registry id.")
        fetch.add_argument("--all", action="store_true", help="Every configured model.")
        fetch.add_argument("--force", action="store_true", help="Fetch again even if present.")
        actions.add_parser("list", help="Tab-separated: id, source, fetched (yes/no), folder.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "fetch":
            model_ids = models_to_fetch(model_ids=options["models"], every=options["all"])
            for model_id in model_ids:
                model_spec(model_id=model_id)  # an unknown id fails before anything is fetched
            for model_id in model_ids:
                result = model_fetch(model_id=model_id, force=options["force"])
                folder = str(result.folder) if result.folder else "-"
                self.stdout.write(
                    f"{model_id}\t{result.outcome}\t{result.files}\t{result.bytes}\t{folder}"
                )
        else:
            for model_id in settings.EASEL_MODELS:
                spec = model_spec(model_id=model_id)
                fetched = "yes" if model_fetched(model_id=model_id) else "no"
                self.stdout.write(
                    f"{model_id}\t{spec.source}\t{fetched}\t{model_cache_folder(model_id=model_id)}"
                )
