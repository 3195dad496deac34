"""The free preflight: what a generation would cost, the policy's verdict on its prompt, and how
long it would wait. A read: it charges nothing, records no decision, counts no strike.
"""

import math
from typing import Any

from django.core.cache import cache
from django.db.models import Q, Sum

from accounts.models import User
from accounts.selectors import tier_limits_check
from generation.inference.registry import model_spec
from generation.models import Generation
from generation.services.generations import generation_params_check
from generation.services.image_options import image_options_resolve


def generation_preflight(
    *,
    user: User,
    operation: str,
    prompt: str,
    n: int,
    size: int | str | None,
    model: str | None,
    **options: Any,
) -> dict[str, Any]:
    """`options`: generation_create's image options (quality, output_format, ...)."""
    generation_params_check(operation=operation, prompt=prompt, n=n, size=size)
    resolved = image_options_resolve(
        spec=model_spec(model_id=model), max_pixels=user.tier.max_pixels, size=size, **options
    )
    tier_limits_check(user=user, n=n, size=resolved.size, operation=operation)
    from billing.selectors import generation_cost, wallet_for_user

    credits = generation_cost(pixels=resolved.size.pixels, n=n)
    wallet = wallet_for_user(user=user)
    balance = wallet.balance if wallet else 0
    position, wait = _queue_wait(lane=user.tier.queue_lane)
    return {
        "credits": credits,
        "size": resolved.size.label,
        "pixels": resolved.size.pixels,
        "steps": resolved.steps,
        "balance": balance,
        "affordable": balance >= credits,
        "policy": _policy_verdict(prompt=prompt),
        "estimated_wait_seconds": wait,
        "queue_position": position,
    }


def _policy_verdict(*, prompt: str) -> dict[str, Any]:
    """Moderation's decision under the current policy, without recording it (no strike)."""
    if not prompt.strip():
        return {"decision": "allow", "categories": [], "message": ""}
    from moderation.policy import policy_current
    from moderation.services.screening import prompt_analysis_current, prompt_decide
    from moderation.verdicts import message_for

    policy = policy_current()
    analysis = prompt_analysis_current(prompt=prompt, policy=policy)
    decision, categories = prompt_decide(analysis=analysis, policy=policy)
    return {
        "decision": decision,
        "categories": categories,
        "message": message_for(categories) if categories else "",
    }


def _queue_wait(*, lane: int) -> tuple[int, int | None]:
    """Jobs a new job in `lane` would wait behind, and seconds at the measured throughput."""
    from generation.services.worker import THROUGHPUT_CACHE_KEY

    ahead = Generation.objects.filter(
        Q(status=Generation.Status.RUNNING)
        | Q(status=Generation.Status.QUEUED, queue_lane__gte=lane)
    )
    position = ahead.filter(status=Generation.Status.QUEUED).count()
    images_ahead = ahead.aggregate(images=Sum("n"))["images"] or 0
    rate = cache.get(THROUGHPUT_CACHE_KEY)  # images per second, measured by the workers
    if not images_ahead:
        return position, 0
    return position, math.ceil(images_ahead / rate) if rate else None
