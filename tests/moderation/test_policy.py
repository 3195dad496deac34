"""policy_update: every change a new version with a reason, audited, safe under concurrency."""

import pytest

from common.errors import InvalidRequest
from moderation.models import AuditLogEntry, Category, Outcome, PolicyVersion
from moderation.policy import policy_current
from moderation.services.policy import policy_update
from tests.concurrency import run_concurrently
from tests.moderation.process_helpers import make_staff

pytestmark = pytest.mark.django_db


def test_a_change_is_a_new_version_with_the_other_rules_kept() -> None:
    staff = make_staff()
    before = policy_current()

    version = policy_update(
        actor=staff,
        rules={Category.VIOLENCE: {"action": Outcome.REVIEW, "text_threshold": 0.6}},
        reason="Violence goes to a person while we tune.",
    )

    assert version.version == before.version + 1
    assert version.rules[Category.VIOLENCE] == {
        **before.rules[Category.VIOLENCE],
        "action": Outcome.REVIEW,
        "text_threshold": 0.6,
    }
    assert version.rules[Category.SEXUAL] == before.rules[Category.SEXUAL]
    assert PolicyVersion.objects.get(pk=before.pk).rules == before.rules  # never edited
    assert policy_current() == version
    entry = AuditLogEntry.objects.get(action="policy.update")
    assert (entry.actor, entry.target_id, entry.reason) == (
        staff,
        str(version.version),
        "Violence goes to a person while we tune.",
    )
    assert entry.details["from_version"] == before.version


@pytest.mark.parametrize(
    ("rules", "reason", "message"),
    [
        ({Category.HATE: {"action": "block"}}, "  ", "reason is required"),
        ({}, "why", "at least one category"),
        ({"nonsense": {"action": "block"}}, "why", "Unknown category 'nonsense'"),
        ({Category.HATE: {"action": "delete"}}, "why", "must be one of"),
        ({Category.HATE: {"threshold": 1.5}}, "why", "number from 0 to 1"),
        ({Category.HATE: {"threshold": True}}, "why", "number from 0 to 1"),
        ({Category.HATE: {"text_threshold": "high"}}, "why", "number from 0 to 1"),
        ({Category.HATE: {"colour": "red"}}, "why", "Unknown key"),
        ({Category.HATE: "block"}, "why", "must be an object"),
        ({Category.HATE: {"action": "block"}}, "why", "current policy already"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(rules, reason, message) -> None:  # type: ignore[no-untyped-def]
    before = PolicyVersion.objects.count()
    with pytest.raises(InvalidRequest, match=message):
        policy_update(actor=make_staff(), rules=rules, reason=reason)
    assert PolicyVersion.objects.count() == before
    assert not AuditLogEntry.objects.filter(action="policy.update").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_get_consecutive_versions_and_both_apply() -> None:
    staff = make_staff()
    start = policy_current().version

    results = run_concurrently(
        [
            lambda: policy_update(
                actor=staff, rules={Category.HATE: {"text_threshold": 0.5}}, reason="first"
            ),
            lambda: policy_update(
                actor=staff, rules={Category.ILLEGAL: {"action": Outcome.REVIEW}}, reason="second"
            ),
        ]
    )

    versions = [result for result in results if isinstance(result, PolicyVersion)]
    assert len(versions) == len(results), results
    assert sorted(version.version for version in versions) == [start + 1, start + 2]
    latest = policy_current()
    assert latest.rules[Category.HATE]["text_threshold"] == 0.5
    assert latest.rules[Category.ILLEGAL]["action"] == Outcome.REVIEW
    assert AuditLogEntry.objects.filter(action="policy.update").count() == 2
