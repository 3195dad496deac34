"""Staff changes to the registry and the policy, made through the console and audited.

The registry (`moderation.services.figures.figure_add`) and the policy
(`moderation.services.policy.policy_update`) belong to the text-screening part; this module
adds the audit entry, in the same transaction, so no change goes unrecorded.
"""

import importlib
from collections.abc import Callable
from typing import Any

from django.db import transaction

from accounts.models import User
from common.errors import InvalidRequest, ServiceUnavailable
from moderation.models import PolicyVersion, PublicFigure
from moderation.services.audit import audit_record


def _service(module: str, name: str) -> Callable[..., Any]:
    try:
        service = getattr(importlib.import_module(module), name, None)
    except ImportError:
        service = None
    if service is None:
        raise ServiceUnavailable(f"This console action is not available yet ({module}.{name}).")
    return service


def staff_figure_add(
    *,
    actor: User,
    name: str,
    aliases: list[str],
    ambiguous_aliases: list[str],
    category: str = "",
    reason: str = "",
) -> PublicFigure:
    figure_add = _service("moderation.services.figures", "figure_add")
    with transaction.atomic():
        figure = figure_add(
            name=name, aliases=aliases, ambiguous_aliases=ambiguous_aliases, category=category
        )
        audit_record(
            actor=actor,
            action="figure.add",
            target_type="public_figure",
            target_id=figure.pk,
            reason=reason,
            details={
                "name": figure.name,
                "aliases": aliases,
                "ambiguous_aliases": ambiguous_aliases,
            },
        )
    return figure


def staff_policy_update(*, actor: User, rules: dict, reason: str) -> PolicyVersion:
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("A reason is required to change the policy.", param="reason")
    policy_update = _service("moderation.services.policy", "policy_update")
    with transaction.atomic():
        version = policy_update(rules=rules, reason=reason, actor=actor)
        audit_record(
            actor=actor,
            action="policy.update",
            target_type="policy_version",
            target_id=version.version,
            reason=reason,
            details={"rules": rules},
        )
    return version
