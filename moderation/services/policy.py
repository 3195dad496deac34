"""Changing the content policy: every change is a new version, with a reason, in the audit log."""

import math

from django.db import IntegrityError, transaction

from accounts.models import User
from common.errors import InvalidRequest
from moderation.models import Category, Outcome, PolicyVersion
from moderation.policy import policy_current
from moderation.services.audit import audit_record

# The keys a rule may carry. `threshold` is the generic score (0-1); `text_threshold`,
# `image_threshold` and `case_threshold` refine it for one stage (see moderation/policy.py).
THRESHOLD_KEYS = ("threshold", "text_threshold", "image_threshold", "case_threshold")
RULE_KEYS = {"action", *THRESHOLD_KEYS}
# Two staff members saving at the same moment: the loser retries on top of the winner's version.
ATTEMPTS = 5


def policy_update(*, actor: User, rules: dict[str, dict], reason: str) -> PolicyVersion:
    """Create the next policy version: the current rules with `rules` merged over them.

    `rules` maps a category to the keys that change (`{"violence": {"action": "review"}}`);
    categories not named keep their rule. Invalid input raises `InvalidRequest` and changes
    nothing. Safe under concurrency: versions are unique, so of two simultaneous updates one
    wins and the other is re-applied on top of it, never lost and never numbered twice.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("Say why the policy changes: a reason is required.", param="reason")
    _validate(rules=rules)
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                return _create_next(actor=actor, rules=rules, reason=reason)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _create_next(*, actor: User, rules: dict[str, dict], reason: str) -> PolicyVersion:
    current = policy_current()
    merged = {category: dict(rule) for category, rule in current.rules.items()}
    for category, change in rules.items():
        merged[category] = {
            **merged.get(category, {"action": Outcome.ALLOW, "threshold": 1.0}),
            **change,
        }
    if merged == current.rules:
        raise InvalidRequest(
            "These rules are the current policy already: nothing to change.", param="rules"
        )
    version = PolicyVersion.objects.create(
        version=current.version + 1, rules=merged, reason=reason, created_by=actor
    )
    audit_record(
        actor=actor,
        action="policy.update",
        target_type="policy_version",
        target_id=version.version,
        reason=reason,
        details={"from_version": current.version, "changes": rules},
    )
    return version


def _validate(*, rules: dict[str, dict]) -> None:
    if not isinstance(rules, dict) or not rules:
        raise InvalidRequest("Give at least one category's rule to change.", param="rules")
    for category, change in rules.items():
        if category not in Category.values:
            raise InvalidRequest(f"Unknown category '{category}'.", param="rules")
        if not isinstance(change, dict) or not change:
            raise InvalidRequest(
                f"The rule for '{category}' must be an object of changes.", param="rules"
            )
        unknown = set(change) - RULE_KEYS
        if unknown:
            raise InvalidRequest(
                f"Unknown key(s) {sorted(unknown)} in the rule for '{category}'; "
                f"allowed: {sorted(RULE_KEYS)}.",
                param="rules",
            )
        if "action" in change and change["action"] not in Outcome.values:
            raise InvalidRequest(
                f"The action for '{category}' must be one of {list(Outcome.values)}.", param="rules"
            )
        for key in THRESHOLD_KEYS:
            if key in change and not _is_score(change[key]):
                raise InvalidRequest(
                    f"'{key}' for '{category}' must be a number from 0 to 1.", param="rules"
                )


def _is_score(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )
