"""The free preflight's read: what a generation would cost, whether the account could pay for it
now, the policy's verdict on its prompt and upload, and how long it would wait. It charges
nothing, records no decision and counts no strike. Admission (`admission_preflight`) checks the
parameters and throttles the call first.
"""

from typing import Any

from accounts.models import ApiKey, User
from billing.selectors import api_key_month_spending, generation_cost, wallet_for_user
from generation.selectors.jobs import queue_wait
from generation.services.image_options import ImageOptions
from generation.services.uploads import ValidatedUpload
from moderation.models import Outcome
from moderation.policy import policy_current
from moderation.selectors import suspension_active
from moderation.services.enforcement import suspension_message
from moderation.services.image_screening import SEVERITY, upload_judge
from moderation.services.screening import prompt_analysis_current, prompt_decide
from moderation.verdicts import message_for


def generation_preflight(
    *,
    user: User,
    api_key: ApiKey | None,
    prompt: str,
    n: int,
    options: ImageOptions,
    upload: ValidatedUpload | None,
    end_user: str,
    face_consent: bool,
) -> dict[str, Any]:
    """`options`: the image options admission's parameters step settled (size, steps...)."""
    credits = generation_cost(pixels=options.size.pixels, n=n)
    wallet = wallet_for_user(user=user)
    balance = wallet.balance if wallet else 0
    position, wait = queue_wait(lane=user.tier.queue_lane)
    refusal = _spending_refusal(
        user=user, api_key=api_key, end_user=end_user, credits=credits, balance=balance
    )
    return {
        "credits": credits,
        "size": options.size.label,
        "pixels": options.size.pixels,
        "steps": options.steps,
        "balance": balance,
        "affordable": not refusal,
        "unaffordable_reason": refusal,
        "policy": _policy_verdict(
            prompt=prompt, upload=upload, user=user, face_consent=face_consent
        ),
        "estimated_wait_seconds": wait,
        "queue_position": position,
    }


def _spending_refusal(
    *, user: User, api_key: ApiKey | None, end_user: str, credits: int, balance: int
) -> str:
    """Why the request would be refused for its account or money now ("" when it would not):
    the same conditions the reservation and the suspension check apply, read without locks."""
    suspension = suspension_active(user=user, end_user=end_user)
    if suspension is not None:
        return suspension_message(suspension)
    wallet = wallet_for_user(user=user)
    if wallet is not None and wallet.is_frozen:
        return "Spending is paused while a payment dispute on your account is open."
    if wallet is not None and wallet.debt > 0:
        return f"Your account owes {wallet.debt} credits from a reversed payment."
    cap = api_key.monthly_credit_cap if api_key is not None else None
    if api_key is not None and cap is not None:
        spent = api_key_month_spending(api_key_id=api_key.pk)
        if spent + credits > cap:
            return f"This API key's monthly cap is {cap} credits and {spent} are used this month."
    if balance < credits:
        return f"This request needs {credits} credits and your balance is {balance}."
    return ""


def _policy_verdict(
    *, prompt: str, upload: ValidatedUpload | None, user: User, face_consent: bool
) -> dict[str, Any]:
    """Moderation's decision on the prompt and the upload under the current policy, without
    recording it (no strike): the more severe of the two, the categories of both."""
    decision: str = Outcome.ALLOW
    categories: list[str] = []
    if prompt.strip():
        policy = policy_current()
        analysis = prompt_analysis_current(prompt=prompt, policy=policy)
        decision, categories = prompt_decide(analysis=analysis, policy=policy)
    if upload is not None:
        upload_decision, upload_categories = upload_judge(
            image=upload.image,
            references=upload.references,
            user=user,
            face_consent=face_consent,
        )
        if SEVERITY[upload_decision] > SEVERITY[decision]:
            decision = upload_decision
        categories = [*categories, *(c for c in upload_categories if c not in categories)]
    return {
        "decision": decision,
        "categories": categories,
        "message": message_for(categories) if categories else "",
    }
