"""Every screening decision is stored: input, stage, scores, model versions, policy, outcome."""

import uuid

from accounts.models import User
from common import metrics
from moderation.models import Decision, PolicyVersion, PublicFigure


def decision_record(
    *,
    stage: str,
    outcome: str,
    policy: PolicyVersion,
    categories: list[str],
    scores: dict,
    model_versions: dict,
    user: User | None,
    end_user: str = "",
    prompt: str = "",
    generation_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
    matched_figure: PublicFigure | None = None,
) -> Decision:
    metrics.moderation_decision(stage=stage, outcome=outcome, categories=categories)
    return Decision.objects.create(
        stage=stage,
        outcome=outcome,
        policy_version=policy,
        categories=categories,
        scores=scores,
        model_versions=model_versions,
        user=user,
        end_user=end_user,
        prompt=prompt,
        generation_id=generation_id,
        image_id=image_id,
        matched_figure=matched_figure,
    )
