"""What a screening stage answers: the decision, and words a person understands."""

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from common.errors import ContentPolicyViolation
from common.site import site_url
from moderation.models import Category, Outcome

# What the user reads for each category: the rule in plain words, never the words that fired
# and never the name of a public figure. Worded so that no lexicon term appears in them
# (tests/moderation/test_screening.py checks), so a message cannot echo what the user typed.
USER_MESSAGES: dict[str, str] = {
    Category.SEXUAL: "Easel does not make adult content.",
    Category.SEXUAL_MINORS: "Easel never makes sexualised images of children.",
    Category.VIOLENCE: "Easel does not make images of graphic violence or serious injury.",
    Category.SELF_HARM: "Easel does not make images that show or encourage people hurting "
    "themselves. If you are struggling, please reach out to someone you trust or a local helpline.",
    Category.HATE: "Easel does not make hateful imagery or symbols aimed at people or groups.",
    Category.HARASSMENT: "Easel does not make images meant to harass, shame or demean someone.",
    Category.ILLEGAL: "Easel does not make images that promote illegal activity.",
    Category.DECEPTION: "Easel does not make images meant to deceive, such as fake documents.",
    Category.SENSITIVE_EVENTS: "Realistic images of sensitive events are checked by a person "
    "first.",
    Category.PUBLIC_FIGURE: "Easel does not make images of real public figures, or of people "
    "who have protected their likeness. Faces of people who do not exist are fine.",
    Category.REALISTIC_FACE_UPLOAD: "This image shows a real person's face. Confirm that you have "
    "their consent to edit it (and that your plan allows it).",
}


@dataclass(frozen=True)
class Verdict:
    decision: str  # an Outcome value: "allow", "review" or "block"
    categories: list[str] = field(default_factory=list)
    message: str = ""
    decision_id: int | None = None
    # For a block that counted as a strike: how many are left before a suspension, or the
    # suspension it caused (moderation.services.strikes.strike_warning).
    warning: str = ""

    @property
    def blocked(self) -> bool:
        return self.decision == Outcome.BLOCK

    def as_error(self) -> ContentPolicyViolation:
        text = "Your request was rejected by Easel's content policy. " + self.message
        if self.warning:
            text += " " + self.warning
        return ContentPolicyViolation(
            text, param="prompt", **decision_reference(decision_id=self.decision_id)
        )


def decision_reference(*, decision_id: int | None) -> dict[str, Any]:
    """The fields a ContentPolicyViolation carries about the decision behind it (none without)."""
    if decision_id is None:
        return {}
    return {"decision_id": decision_id, "appeal_url": appeal_url(decision_id=decision_id)}


def appeal_url(*, decision_id: int) -> str:
    """Where an appeal of this decision is filed through the API (`POST`, body `{"text"}`)."""
    return site_url(reverse("api-decision-appeal", args=[decision_id]))


def message_for(categories: list[str]) -> str:
    """The plain-words rule for the first category that fired."""
    for category in categories:
        if category in USER_MESSAGES:
            return USER_MESSAGES[category]
    return "This request is not allowed by Easel's content policy."
