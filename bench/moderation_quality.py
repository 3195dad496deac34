"""Precision and recall of prompt screening per category on the labelled prompt set.

    .venv/bin/python bench/moderation_quality.py            # figures, and every mistake
    .venv/bin/python bench/moderation_quality.py --tune     # also sweep each text threshold

Runs the production analysis and decision under the default policy, with the starter registry
read from moderation/data/public_figures.jsonl (no database, no network). The test suite
(tests/moderation/test_quality.py) asserts floors a little under what this prints.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from moderation.services.screening import prompt_decide  # noqa: E402
from moderation.text.analysis import TEXT_CATEGORIES, TEXT_THRESHOLDS, prompt_analyse  # noqa: E402
from moderation.text.quality import (  # noqa: E402
    HOLDOUT_PATH,
    LABELLED_PATH,
    default_policy,
    evaluate,
    labelled_prompts,
    starter_descriptions,
    starter_matcher,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune", action="store_true", help="Sweep each semantic threshold.")
    parser.add_argument("--quiet", action="store_true", help="Do not list the mistakes.")
    parser.add_argument(
        "--holdout-mistakes",
        action="store_true",
        help="Also list the held-out set's mistakes (reading them spends the held-out set).",
    )
    args = parser.parse_args()

    rows = labelled_prompts()
    matcher = starter_matcher()
    descriptions = starter_descriptions()  # loads the sentence model once
    policy = default_policy()

    def screen_with(thresholds: dict[str, float]):  # type: ignore[no-untyped-def]
        def screen(prompt: str) -> tuple[str, list[str]]:
            analysis = prompt_analyse(
                prompt, matcher=matcher, thresholds=thresholds, descriptions=descriptions
            )
            return prompt_decide(analysis=analysis, policy=policy)

        return screen

    for title, path in (("tuning set", LABELLED_PATH), ("held-out set", HOLDOUT_PATH)):
        rows_here = labelled_prompts(path)
        started = time.perf_counter()
        report = evaluate(rows_here, screen=screen_with({}))
        seconds = time.perf_counter() - started
        # The held-out set's mistakes are not listed unless asked: reading them is tuning on them.
        quiet = args.quiet or (path == HOLDOUT_PATH and not args.holdout_mistakes)
        print_report(title=f"{title} ({path.name})", report=report, seconds=seconds, quiet=quiet)
    if args.tune:
        tune(rows=rows, screen_with=screen_with)


def print_report(*, title: str, report, seconds: float, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    print(f"== {title}: {report.total} prompts")
    print(f"decision accuracy (allow/review/block): {100 * report.decision_accuracy:.1f}%")
    print(f"{'category':<22} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}")
    for category in sorted(report.per_category):
        figures = report.per_category[category]
        print(
            f"{category:<22} {100 * figures.precision:>8.1f}% {100 * figures.recall:>6.1f}% "
            f"{figures.true_positive:>4} {figures.false_positive:>4} {figures.false_negative:>4}"
        )
    print("per evasion family (flagged = blocked or reviewed; look-alikes count as negatives):")
    print(f"  {'family':<22} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}")
    for family in sorted(report.per_family):
        figures = report.per_family[family]
        print(
            f"  {family:<22} {100 * figures.precision:>8.1f}% {100 * figures.recall:>6.1f}% "
            f"{figures.true_positive:>4} {figures.false_positive:>4} {figures.false_negative:>4}"
        )
    print("per group (decision right / total):")
    for group, (right, total) in sorted(report.per_group.items()):
        print(f"  {group:<22} {right:>3}/{total:<3}")
    print(f"screening time: {1000 * seconds / max(report.total, 1):.1f} ms per prompt on average")
    if not quiet:
        print("mistakes (expected -> got):")
        for row, decision, categories in report.mistakes:
            print(
                f"  [{row.group}] {row.prompt!r}: "
                f"{row.decision}/{row.category} -> {decision}/{categories}"
            )


def tune(*, rows, screen_with) -> None:  # type: ignore[no-untyped-def]
    """Each category's threshold swept alone (the others at their defaults): F1 per value."""
    print("threshold sweep (precision/recall per value; current marked *):")
    for category in TEXT_CATEGORIES:
        cells = []
        for step in range(40, 72, 3):
            value = step / 100
            report = evaluate(rows, screen=screen_with({category: value}))
            figures = report.per_category.get(category)
            if figures is None:
                continue
            mark = "*" if abs(value - TEXT_THRESHOLDS[category]) < 0.015 else " "
            cells.append(
                f"{value:.2f}{mark}{100 * figures.precision:.0f}/{100 * figures.recall:.0f}"
            )
        print(f"  {category:<18} " + "  ".join(cells))


if __name__ == "__main__":
    main()
