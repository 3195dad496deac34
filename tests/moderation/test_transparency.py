"""Transparency figures: images generated, share flagged, share of flags a reviewer confirmed;
per week, per policy version, per category."""

import datetime

import pytest
from django.utils import timezone

from moderation.models import Case, Decision, Outcome, PolicyVersion
from moderation.policy import policy_current
from moderation.selectors.transparency import transparency_figures, transparency_table
from moderation.services.cases import CaseAction, case_open, case_resolve
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_staff

pytestmark = pytest.mark.django_db

MONDAY = datetime.datetime(2026, 11, 9, 12, 0, tzinfo=datetime.UTC)


def _output(user, outcome, categories, when, policy=None):  # type: ignore[no-untyped-def]
    decision = make_decision(
        user=user, stage=Decision.Stage.OUTPUT, outcome=outcome, categories=categories
    )
    Decision.objects.filter(pk=decision.pk).update(
        created_at=when, policy_version=policy or PolicyVersion.objects.order_by("version").first()
    )
    decision.refresh_from_db()
    return decision


def _resolve(decision, resolution):  # type: ignore[no-untyped-def]
    case = case_open(source=Case.Source.REVIEW_DECISION, decision=decision)
    actions = [] if resolution == "upheld" else [CaseAction(type="approve")]
    case_resolve(
        case_id=case.pk, actor=make_staff(), resolution=resolution, actions=actions, reason="r"
    )


def test_figures_per_week_policy_version_and_category():
    user = UserFactory()
    v1 = policy_current()
    v2 = PolicyVersion.objects.create(version=v1.version + 1, rules=v1.rules, reason="stricter")
    # Week of 9 November, policy v1: 10 images, 4 flagged (3 violence, 1 sexual+violence).
    for _ in range(6):
        _output(user, Outcome.ALLOW, [], MONDAY)
    upheld = _output(user, Outcome.BLOCK, ["violence"], MONDAY)
    overturned = _output(user, Outcome.REVIEW, ["violence"], MONDAY + datetime.timedelta(days=2))
    _output(user, Outcome.BLOCK, ["violence"], MONDAY)  # not reviewed yet
    both = _output(user, Outcome.BLOCK, ["sexual", "violence"], MONDAY)
    _resolve(upheld, "upheld")
    _resolve(overturned, "overturned")
    _resolve(both, "upheld")
    # The next week, under v2: 2 images, none flagged.
    _output(user, Outcome.ALLOW, [], MONDAY + datetime.timedelta(days=7), policy=v2)
    _output(user, Outcome.ALLOW, [], MONDAY + datetime.timedelta(days=8), policy=v2)
    # Before `since`: not counted.
    _output(user, Outcome.BLOCK, ["hate"], MONDAY - datetime.timedelta(days=30))

    rows = transparency_figures(since=datetime.date(2026, 11, 1))
    table = {(r.week.isoformat(), r.policy_version, r.stage, r.category): r for r in rows}
    assert set(table) == {
        ("2026-11-09", v1.version, "output", "all"),
        ("2026-11-09", v1.version, "output", "sexual"),
        ("2026-11-09", v1.version, "output", "violence"),
        ("2026-11-16", v2.version, "output", "all"),
    }
    everything = table[("2026-11-09", v1.version, "output", "all")]
    assert (everything.screened, everything.flagged, everything.reviewed, everything.confirmed) == (
        10,
        4,
        3,
        2,
    )
    assert everything.flagged_share == pytest.approx(0.4)
    assert everything.confirmed_share == pytest.approx(2 / 3)
    violence = table[("2026-11-09", v1.version, "output", "violence")]
    assert (violence.flagged, violence.reviewed, violence.confirmed) == (4, 3, 2)
    sexual = table[("2026-11-09", v1.version, "output", "sexual")]
    assert (sexual.flagged, sexual.reviewed, sexual.confirmed) == (1, 1, 1)
    quiet = table[("2026-11-16", v2.version, "output", "all")]
    assert (quiet.screened, quiet.flagged, quiet.confirmed_share) == (2, 0, None)
    assert rows[0].category == "all"  # each group starts with its total

    printed = transparency_table(rows)
    assert "2026-11-09" in printed and "violence" in printed and "66.7" in printed
    assert rows[0].as_dict()["week"] == "2026-11-09"


def test_an_appeal_overturning_a_block_counts_as_not_confirmed():
    user = UserFactory()
    decision = _output(user, Outcome.BLOCK, ["hate"], timezone.now())
    Decision.objects.filter(pk=decision.pk).update(overturned=True)
    (total, hate) = transparency_figures(since=timezone.now() - datetime.timedelta(days=7))
    assert (hate.category, hate.reviewed, hate.confirmed) == ("hate", 1, 0)
    assert total.confirmed_share == 0.0


def test_nothing_screened_gives_no_rows():
    assert transparency_figures(since=datetime.date(2020, 1, 1)) == []
