"""Quality floors on the labelled prompt sets (bench/moderation_quality.py prints the figures).

Floors sit a little under what the benchmark measures (docs/moderation-policy.md); raise them
as the screen improves, never lower them to make a change pass. The held-out set was never
tuned on; its floors are lower because it is smaller and honest.
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
    starter_descriptions,
    starter_matcher,
)

# (precision, recall) floors per category on the tuning set.
FLOORS = {
    "public_figure": (0.98, 0.98),
    "sexual": (0.95, 0.95),
    "sexual_minors": (0.95, 0.85),
    "violence": (0.95, 0.97),
    "self_harm": (0.90, 0.93),
    "hate": (0.93, 0.97),
    "harassment": (0.97, 0.97),
    "illegal": (0.97, 0.97),
    # 27 prompts: one borderline look-alike ("a passport photo of a tourist") crosses the review
    # threshold on some CPUs and not others (the int8 sentence model's kernels differ by
    # instruction set), so the floor allows that one (26 of 27 = 0.963).
    "deception": (0.96, 0.92),
    "sensitive_events": (0.97, 0.97),
}
# (precision, recall) of "flagged" (blocked or reviewed) per evasion family, tuning set; each
# family's harmless look-alikes count as its negatives.
FAMILY_FLOORS = {
    "script": (0.97, 0.97),
    "misspelling": (0.97, 0.94),
    "phonetic": (0.97, 0.94),
    "surname_first": (0.97, 0.97),
    "joined_hashtag": (0.97, 0.97),
    "spaced_letters": (0.97, 0.95),
    "description": (0.97, 0.95),
    "deceased": (0.97, 0.97),
    "documentary": (0.95, 0.95),
    "documentary_review": (0.95, 0.95),
}
# The held-out set: (precision, recall) per family, a few prompts each, so rough.
HOLDOUT_FAMILY_FLOORS = {
    "script": (0.95, 0.95),
    "misspelling": (0.95, 0.8),
    "phonetic": (0.95, 0.8),
    "surname_first": (0.95, 0.95),
    "joined_hashtag": (0.95, 0.8),
    "spaced_letters": (0.95, 0.95),
    "description": (0.95, 0.9),
    "deceased": (0.95, 0.95),
}


@pytest.fixture(scope="module")
def screen():  # type: ignore[no-untyped-def]
    matcher, descriptions, policy = starter_matcher(), starter_descriptions(), default_policy()

    def run(prompt: str) -> tuple[str, list[str]]:
        analysis = prompt_analyse(prompt, matcher=matcher, descriptions=descriptions)
        return prompt_decide(analysis=analysis, policy=policy)

    return run


@pytest.fixture(scope="module")
def tuning_report(screen) -> QualityReport:  # type: ignore[no-untyped-def]
    return evaluate(labelled_prompts(LABELLED_PATH), screen=screen)


@pytest.fixture(scope="module")
def holdout_report(screen) -> QualityReport:  # type: ignore[no-untyped-def]
    return evaluate(labelled_prompts(HOLDOUT_PATH), screen=screen)


def test_the_labelled_sets_are_large_and_cover_every_family_and_category() -> None:
    tuning, holdout = labelled_prompts(LABELLED_PATH), labelled_prompts(HOLDOUT_PATH)
    assert len(tuning) + len(holdout) >= 1000
    assert len(holdout) >= 200
    for rows in (tuning, holdout):
        families = {row.family for row in rows}
        for family in HOLDOUT_FAMILY_FLOORS:
            assert family in families
            assert f"{family}_lookalike" in families  # each evasion has its harmless twins
    for category in FLOORS:
        assert any(row.category == category for row in tuning), category
    # The held-out set shares no prompt with the tuning set.
    assert not {row.prompt for row in tuning} & {row.prompt for row in holdout}


@pytest.mark.parametrize("category", sorted(FLOORS))
def test_precision_and_recall_floors(tuning_report: QualityReport, category: str) -> None:
    figures = tuning_report.per_category[category]
    precision_floor, recall_floor = FLOORS[category]
    assert figures.precision >= precision_floor, (category, figures)
    assert figures.recall >= recall_floor, (category, figures)


@pytest.mark.parametrize("family", sorted(FAMILY_FLOORS))
def test_evasion_family_floors(tuning_report: QualityReport, family: str) -> None:
    figures = tuning_report.per_family[family]
    precision_floor, recall_floor = FAMILY_FLOORS[family]
    assert figures.precision >= precision_floor, (family, figures)
    assert figures.recall >= recall_floor, (family, figures)


@pytest.mark.parametrize("family", sorted(HOLDOUT_FAMILY_FLOORS))
def test_held_out_family_floors(holdout_report: QualityReport, family: str) -> None:
    figures = holdout_report.per_family[family]
    precision_floor, recall_floor = HOLDOUT_FAMILY_FLOORS[family]
    assert figures.precision >= precision_floor, (family, figures)
    assert figures.recall >= recall_floor, (family, figures)


def test_decision_accuracy_floors(
    tuning_report: QualityReport, holdout_report: QualityReport
) -> None:
    assert tuning_report.decision_accuracy >= 0.98
    # Harmless prompts that share a word with a name, and faces of nobody: all allowed.
    for group in ("name_lookalike", "synthetic_face", "script_lookalike"):
        right, total = tuning_report.per_group[group]
        assert right == total, group
    assert holdout_report.decision_accuracy >= 0.94
