"""The free preflight: what a generation would cost, the policy's verdict on its prompt, and how
long it would wait. A read: it charges nothing, records no decision, counts no strike.
"""

import math
from typing import Any

from django.core.cache import cache
from django.db.models import Q, Sum

from accounts.models import User
from accounts.selectors import size_pixels, tier_limits_check
from common.errors import InvalidRequest
from generation.inference.registry import model_spec
from generation.models import Generation
from generation.services.generations import MAX_N, MAX_PROMPT_CHARS, SIZES


def generation_preflight(
    *, user: User, operation: str, prompt: str, n: int, size: int | str, model: str | None
) -> dict[str, Any]:
    pixels = _params_check(operation=operation, prompt=prompt, n=n, size=size)
    tier_limits_check(user=user, n=n, size=pixels, operation=operation)
    model_spec(model_id=model)
    from billing.selectors import generation_cost, wallet_for_user

    credits = generation_cost(size=pixels, n=n)
    wallet = wallet_for_user(user=user)
    balance = wallet.balance if wallet else 0
    position, wait = _queue_wait(lane=user.tier.queue_lane)
    return {
        "credits": credits,
        "balance": balance,
        "affordable": balance >= credits,
        "policy": _policy_verdict(prompt=prompt),
        "estimated_wait_seconds": wait,
        "queue_position": position,
    }


def _params_check(*, operation: str, prompt: str, n: int, size: int | str) -> int:
    """The same limits generation_create applies, with the same words."""
    if operation != Generation.Operation.VARIATION and not prompt.strip():
        raise InvalidRequest("'prompt' is a required property.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    if not 1 <= n <= MAX_N:
        raise InvalidRequest(
            f"Invalid 'n': expected a value from 1 to {MAX_N}, got {n}.", param="n"
        )
    pixels = size_pixels(size)
    if pixels not in SIZES:
        raise InvalidRequest(
            f"'{size}' is not one of ['256x256', '512x512', '1024x1024'] - 'size'", param="size"
        )
    return pixels


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
