"""The append-only audit log: every staff action, who did it, to what, and why."""

from typing import Any

from accounts.models import User
from moderation.models import AuditLogEntry


def audit_record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Append one entry. Call it inside the transaction of the action it records, so an action
    that rolls back leaves no entry and an entry never exists without its action."""
    return AuditLogEntry.objects.create(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        details=details or {},
    )
