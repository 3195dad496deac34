"""Precision and recall of prompt screening on the labelled set, per category.

Shared by `bench/moderation_quality.py` (prints the figures, tunes thresholds) and the test
suite (asserts floors), so both measure exactly the same thing: the production analysis
(`prompt_analyse`) and decision (`prompt_decide`) under the default policy, with the starter
registry loaded from the data file (no database needed).
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from moderation.models import PolicyVersion
from moderation.policy import DEFAULT_RULES
from moderation.text.descriptions import DescriptionIndex
from moderation.text.figures import FigureMatcher, RegistryEntry
from moderation.text.semantic import sentence_encoder

DATA = Path(__file__).resolve().parent.parent / "data"
LABELLED_PATH = DATA / "labelled_prompts.jsonl"
# Written after the lexicons and examples were tuned on the set above, and never tuned on:
# its figures are the honest estimate of quality on prompts nobody has looked at.
HOLDOUT_PATH = DATA / "labelled_prompts_holdout.jsonl"
STARTER_PATH = DATA / "public_figures.jsonl"


@dataclass(frozen=True)
class Labelled:
    prompt: str
    decision: str
    category: str | None
    also: tuple[str, ...]
    group: str
    # The evasion this prompt exercises ("misspelling", "script", "description", ...), or the
    # guard it tests ("misspelling_lookalike": harmless, must stay allowed). Template rows carry
    # one; hand-written rows count under their group.
    family: str = ""

    @property
    def evasion_family(self) -> str:
        family = self.family or self.group
        return family.removesuffix("_lookalike") or family


@dataclass
class CategoryFigures:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        fired = self.true_positive + self.false_positive
        return self.true_positive / fired if fired else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positive + self.false_negative
        return self.true_positive / expected if expected else 1.0


@dataclass
class QualityReport:
    per_category: dict[str, CategoryFigures] = field(default_factory=dict)
    decisions_right: int = 0
    total: int = 0
    per_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [right, total]
    # Evasion family -> figures of "flagged" (blocked or reviewed) against the label: a positive
    # is a prompt labelled block/review, a false positive a harmless look-alike that was flagged.
    per_family: dict[str, CategoryFigures] = field(default_factory=dict)
    mistakes: list[tuple[Labelled, str, list[str]]] = field(default_factory=list)

    @property
    def decision_accuracy(self) -> float:
        return self.decisions_right / self.total if self.total else 1.0


def labelled_prompts(path: Path = LABELLED_PATH) -> list[Labelled]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(
                Labelled(
                    prompt=row["prompt"],
                    decision=row["decision"],
                    category=row.get("category"),
                    also=tuple(row.get("also", ())),
                    group=row.get("group", ""),
                    family=row.get("family", ""),
                )
            )
    return rows


def starter_matcher(path: Path = STARTER_PATH) -> FigureMatcher:
    """The matcher over the starter registry, straight from the data file."""
    return FigureMatcher(starter_entries(path))


def starter_descriptions(path: Path = STARTER_PATH) -> DescriptionIndex:
    """The role index of the starter registry (loads the sentence model)."""
    return DescriptionIndex(starter_entries(path), encoder=sentence_encoder())


def starter_entries(path: Path = STARTER_PATH) -> list[RegistryEntry]:
    """The starter registry's rows as matcher entries, numbered from 1 in file order."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            entries.append(
                RegistryEntry(
                    figure_id=number,
                    name=row["name"],
                    aliases=tuple(row.get("aliases", ())),
                    ambiguous_aliases=tuple(row.get("ambiguous_aliases", ())),
                    roles=tuple(row.get("roles", ())),
                )
            )
    return entries


def default_policy() -> PolicyVersion:
    """The default rules as an unsaved policy version (no database needed)."""
    return PolicyVersion(version=0, rules={str(k): dict(v) for k, v in DEFAULT_RULES.items()})


def evaluate(
    rows: Iterable[Labelled], *, screen: Callable[[str], tuple[str, list[str]]]
) -> QualityReport:
    """Score `screen(prompt) -> (decision, categories)` against the labels.

    A category fired on a prompt counts as right when it is the prompt's label or one of its
    acceptable extras (`also`: a documentary photo of an air strike may also be violence).
    """
    report = QualityReport()
    for row in rows:
        decision, categories = screen(row.prompt)
        report.total += 1
        right = decision == row.decision
        report.decisions_right += right
        group = report.per_group.setdefault(row.group, [0, 0])
        group[0] += right
        group[1] += 1
        family = report.per_family.setdefault(row.evasion_family, CategoryFigures())
        expected_flag, flagged = row.decision != "allow", decision != "allow"
        if expected_flag and flagged:
            family.true_positive += 1
        elif flagged:
            family.false_positive += 1
        elif expected_flag:
            family.false_negative += 1
        acceptable = {row.category, *row.also} - {None}
        for category in categories:
            figures = report.per_category.setdefault(category, CategoryFigures())
            if category in acceptable:
                figures.true_positive += 1
            else:
                figures.false_positive += 1
        if row.category and row.category not in categories:
            report.per_category.setdefault(row.category, CategoryFigures()).false_negative += 1
        if not right or (row.category and row.category not in categories):
            report.mistakes.append((row, decision, categories))
    return report
