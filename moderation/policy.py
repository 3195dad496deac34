"""The versioned content policy: the rules every decision is made under."""

from django.db import transaction

from moderation.models import Category, Outcome, PolicyVersion

# Version 1, seeded by a migration. Each rule: `action` (block, review or allow) and `threshold`,
# the score (0-1) at or above which the action applies. A rule may refine the threshold per
# stage: `text_threshold` (semantic similarity of a prompt to the category's examples; absent,
# the tuned defaults in moderation/text/analysis.py apply), `image_threshold` (classifier score
# or likeness of an image) and `case_threshold` (when a withheld output opens a case). Staff
# change rules with `moderation.services.policy.policy_update`: a new version each time.
DEFAULT_RULES: dict[str, dict] = {
    Category.SEXUAL: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.SEXUAL_MINORS: {"action": Outcome.BLOCK, "threshold": 0.45},
    Category.VIOLENCE: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.SELF_HARM: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.HATE: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.HARASSMENT: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.ILLEGAL: {"action": Outcome.BLOCK, "threshold": 0.55},
    Category.DECEPTION: {"action": Outcome.REVIEW, "threshold": 0.55},
    Category.SENSITIVE_EVENTS: {"action": Outcome.REVIEW, "threshold": 0.55},
    Category.PUBLIC_FIGURE: {"action": Outcome.BLOCK, "threshold": 0.5},
    Category.REALISTIC_FACE_UPLOAD: {"action": Outcome.BLOCK, "threshold": 0.5},
}


def policy_current() -> PolicyVersion:
    """The newest version. Decisions record it, so old decisions keep the rules they used."""
    return PolicyVersion.objects.order_by("-version").first() or _seed_first_version()


def _seed_first_version() -> PolicyVersion:
    """Only reached on a database migrated without the seed (e.g. a test that flushed it)."""
    with transaction.atomic():
        version, _ = PolicyVersion.objects.get_or_create(
            version=1, defaults={"rules": DEFAULT_RULES, "reason": "Initial policy."}
        )
    return version


def rule_for(policy: PolicyVersion, category: str) -> dict:
    return policy.rules.get(category, {"action": Outcome.ALLOW, "threshold": 1.0})
