"""`python manage.py moderation screen` (prompts on stdin, JSON verdicts on stdout),
`moderation report --since DATE` (the transparency figures) and `moderation prepare-models`
(export the sentence model to int8 ONNX once per machine)."""

import datetime
import json
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.operator import OperatorCommand
from moderation.policy import policy_current
from moderation.selectors.transparency import transparency_figures, transparency_table
from moderation.services.screening import prompt_analysis_current, prompt_decide
from moderation.text.semantic import sentence_model_export
from moderation.verdicts import message_for


class Command(OperatorCommand):
    help = "Test the content policy on prompts in bulk, or print the transparency figures."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = self.add_actions(parser, ["screen", "report", "prepare-models"])
        screen = actions.add_parser(
            "screen",
            help="Read prompts, one per line, on stdin; write one JSON verdict per line on "
            "stdout (decision, categories, message, public_figure). Nothing is recorded: "
            "operators' trials do not count in the transparency figures or as strikes.",
        )
        screen.add_argument(
            "--scores", action="store_true", help="Add the scores behind each verdict."
        )
        report = actions.add_parser("report", help="Transparency figures since a date.")
        report.add_argument("--since", required=True, help="YYYY-MM-DD (UTC).")
        report.add_argument("--json", action="store_true", help="One JSON object per row.")
        actions.add_parser(
            "prepare-models",
            help="Export the packaged sentence model to an int8 ONNX file in "
            "MODERATION_MODEL_DIR (once per machine; does nothing when it is there), so no "
            "process pays for it at start.",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "screen":
            self._screen(with_scores=options["scores"])
        elif action == "prepare-models":
            self.stdout.write(f"sentence model: {sentence_model_export()}")
        else:
            self._report(since=options["since"], as_json=options["json"])

    def _screen(self, *, with_scores: bool) -> None:
        policy = policy_current()
        for line in sys.stdin:
            prompt = line.rstrip("\n")
            if not prompt.strip():
                continue
            analysis = prompt_analysis_current(prompt=prompt, policy=policy)
            decision, categories = prompt_decide(analysis=analysis, policy=policy)
            verdict: dict[str, Any] = {
                "prompt": prompt,
                "decision": decision,
                "categories": categories,
                "message": message_for(categories) if decision != "allow" else "",
                "public_figure": analysis.figure.name if analysis.figure else None,
                "policy_version": policy.version,
            }
            if with_scores:
                verdict["scores"] = analysis.scores
            self.stdout.write(json.dumps(verdict, ensure_ascii=False))
            self.stdout.flush()

    def _report(self, *, since: str, as_json: bool) -> None:
        try:
            since_date = datetime.date.fromisoformat(since)
        except ValueError:
            raise CommandError(f"--since must be a date like 2026-01-31, not '{since}'.") from None

        rows = transparency_figures(since=since_date)
        if as_json:
            for row in rows:
                self.stdout.write(json.dumps(row.as_dict()))
        elif not rows:
            self.stdout.write(f"No screening decisions since {since_date.isoformat()}.")
        else:
            self.stdout.write(transparency_table(rows))
