"""Quality floors on the labelled prompt sets (bench/moderation_quality.py prints the figures).

Floors sit a little under what the benchmark measures (docs/moderation-policy.md); raise them
as the screen improves, never lower them to make a change pass.
"""

import pytest

from moderation.services.screening import prompt_decide
from moderation.text.analysis import prompt_analyse
from moderation.text.quality import (
    HOLDOUT_PATH,
    LABELLED_PATH,
    QualityReport,
    default_policy,
    evaluate,
    labelled_prompts,
    starter_matcher,
)

# (precision, recall) floors per category on the tuning set.
FLOORS = {
    "public_figure": (0.97, 0.95),
    "sexual": (0.92, 0.95),
    "sexual_minors": (0.95, 0.95),
    "violence": (0.83, 0.93),
    "self_harm": (0.85, 0.90),
    "hate": (0.90, 0.90),
    "harassment": (0.90, 0.90),
    "illegal": (0.90, 0.90),
    "deception": (0.90, 0.90),
    "sensitive_events": (0.90, 0.93),
}


@pytest.fixture(scope="module")
def screen():  # type: ignore[no-untyped-def]
    matcher, policy = starter_matcher(), default_policy()

    def run(prompt: str) -> tuple[str, list[str]]:
        return prompt_decide(analysis=prompt_analyse(prompt, matcher=matcher), policy=policy)

    return run


@pytest.fixture(scope="module")
def tuning_report(screen) -> QualityReport:  # type: ignore[no-untyped-def]
    return evaluate(labelled_prompts(LABELLED_PATH), screen=screen)


def test_the_labelled_set_is_large_and_covers_every_group() -> None:
    rows = labelled_prompts(LABELLED_PATH)
    assert len(rows) >= 300
    groups = {row.group for row in rows}
    for group in (
        "figure_name",
        "figure_evasion",
        "figure_context",
        "name_lookalike",
        "synthetic_face",
    ):
        assert group in groups
    for category in FLOORS:
        assert any(row.category == category for row in rows), category


@pytest.mark.parametrize("category", sorted(FLOORS))
def test_precision_and_recall_floors(tuning_report: QualityReport, category: str) -> None:
    figures = tuning_report.per_category[category]
    precision_floor, recall_floor = FLOORS[category]
    assert figures.precision >= precision_floor, (category, figures)
    assert figures.recall >= recall_floor, (category, figures)


def test_decision_accuracy_floors(tuning_report: QualityReport, screen) -> None:  # type: ignore[no-untyped-def]
    assert tuning_report.decision_accuracy >= 0.97
    # Harmless prompts that share a word with a name, and faces of nobody: all allowed.
    for group in ("name_lookalike", "synthetic_face"):
        right, total = tuning_report.per_group[group]
        assert right == total, group
    holdout = evaluate(labelled_prompts(HOLDOUT_PATH), screen=screen)
    assert holdout.decision_accuracy >= 0.95
