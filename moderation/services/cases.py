"""Review cases: opened by the screening stages, strikes, reports and appeals; claimed by one
staff member at a time; resolved once, with a resolution and actions, every step audited."""

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from accounts.models import User
from billing.selectors import image_price
from billing.services.credits import credits_refund_image
from common.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from generation.models import Image
from generation.services.quarantine import quarantine_release
from moderation.models import Case, Category, Decision, Suspension
from moderation.services import enforcement
from moderation.services.audit import audit_record

logger = logging.getLogger(__name__)

# Severity of what a case is about; the queue is ordered by priority (highest first), then age.
CATEGORY_SEVERITY: dict[str, int] = {
    Category.SEXUAL_MINORS: 10,
    Category.SELF_HARM: 8,
    Category.VIOLENCE: 6,
    Category.HATE: 6,
    Category.PUBLIC_FIGURE: 5,
    Category.SEXUAL: 5,
    Category.HARASSMENT: 5,
    Category.ILLEGAL: 5,
    Category.DECEPTION: 4,
    Category.SENSITIVE_EVENTS: 4,
    Category.REALISTIC_FACE_UPLOAD: 3,
}
DEFAULT_SEVERITY = 2
MAX_PRIORITY = 20


class Action:
    """What a reviewer may do when resolving. Each resolution allows its own set."""

    APPROVE = "approve"  # the flag was wrong: the image may be shared
    OVERTURN = "overturn"  # the block, removal or strike suspension was wrong: undo and refund
    RESTORE_IMAGE = "restore_image"
    REMOVE_IMAGE = "remove_image"
    WARN = "warn"
    SUSPEND = "suspend"  # needs "days"
    BAN = "ban"


ACTIONS_BY_RESOLUTION: dict[str, set[str]] = {
    Case.Resolution.UPHELD: {Action.REMOVE_IMAGE, Action.WARN, Action.SUSPEND, Action.BAN},
    Case.Resolution.OVERTURNED: {Action.APPROVE, Action.OVERTURN, Action.RESTORE_IMAGE},
}


@dataclass(frozen=True)
class CaseAction:
    type: str
    days: int | None = None  # suspend only
    end_user: str = ""  # suspend or ban one end user of an integrator instead of the account

    def as_dict(self) -> dict:
        data: dict = {"type": self.type}
        if self.days is not None:
            data["days"] = self.days
        if self.end_user:
            data["end_user"] = self.end_user
        return data


def priority_for(*, category: str) -> int:
    return CATEGORY_SEVERITY.get(category, DEFAULT_SEVERITY)


def case_open(
    *,
    source: str,
    category: str = "",
    decision: Decision | None = None,
    subject_user: User | None = None,
    image_id: uuid.UUID | None = None,
    generation_id: uuid.UUID | None = None,
    priority: int | None = None,
    summary: str = "",
) -> Case:
    """Open a case, or return the unresolved one already open for the same thing.

    "The same thing" is the same source and decision, or (without a decision) the same source
    and image, so a retried task or a second report never queues a duplicate.
    """
    if source not in Case.Source.values:
        raise InvalidRequest(f"Unknown case source '{source}'.", param="source")
    if category and category not in Category.values:
        raise InvalidRequest(f"Unknown category '{category}'.", param="category")
    if decision is not None:
        category = category or (decision.categories[0] if decision.categories else "")
        subject_user = subject_user or decision.user
        image_id = image_id or decision.image_id
        generation_id = generation_id or decision.generation_id
    with transaction.atomic():
        same = _same_thing(source=source, decision=decision, image_id=image_id)
        if same is not None:
            advisory_lock(key=f"case-open:{source}:{same}")
            existing = _open_case_for(source=source, decision=decision, image_id=image_id)
            if existing is not None:
                return existing
        return Case.objects.create(
            source=source,
            category=category,
            decision=decision,
            subject_user=subject_user,
            image_id=image_id,
            generation_id=generation_id,
            priority=min(
                priority if priority is not None else priority_for(category=category), MAX_PRIORITY
            ),
            summary=summary,
        )


def _same_thing(
    *, source: str, decision: Decision | None, image_id: uuid.UUID | None
) -> str | None:
    if decision is not None:
        return f"decision:{decision.pk}"
    if image_id is not None:
        return f"image:{image_id}"
    return None


def _open_case_for(
    *, source: str, decision: Decision | None, image_id: uuid.UUID | None
) -> Case | None:
    unresolved = Case.objects.filter(source=source).exclude(state=Case.State.RESOLVED)
    if decision is not None:
        return unresolved.filter(decision=decision).first()
    return unresolved.filter(image_id=image_id, decision__isnull=True).first()


def advisory_lock(*, key: str) -> None:
    """Hold a transaction-scoped lock on `key` so two writers of the same thing go one at a
    time. PostgreSQL only: SQLite already serialises every write transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def case_raise_priority(*, case: Case, by: int = 1) -> None:
    """Another report of the same image: it climbs the queue, up to MAX_PRIORITY."""
    Case.objects.filter(pk=case.pk).update(
        priority=Least(F("priority") + by, Value(MAX_PRIORITY)), updated_at=timezone.now()
    )


def case_claim(*, case_id: int, actor: User) -> Case:
    """Take an open case. Two staff claiming at once: one conditional UPDATE wins, the other
    gets 409. Claiming one's own claimed case again changes nothing."""
    with transaction.atomic():
        won = Case.objects.filter(pk=case_id, state=Case.State.OPEN).update(
            state=Case.State.CLAIMED, assignee=actor, updated_at=timezone.now()
        )
        case = Case.objects.filter(pk=case_id).select_related("assignee").first()
        if case is None:
            raise NotFound("No such case.")
        if won:
            audit_record(actor=actor, action="case.claim", target_type="case", target_id=case.pk)
            return case
    if case.state == Case.State.CLAIMED and case.assignee_id == actor.pk:
        return case
    if case.state == Case.State.RESOLVED:
        raise Conflict("This case is already resolved.")
    raise Conflict(f"This case is already claimed by {case.assignee}.")


def case_release(*, case_id: int, actor: User, reason: str = "") -> Case:
    """Give a claimed case back to the queue (only its assignee may)."""
    with transaction.atomic():
        released = Case.objects.filter(pk=case_id, state=Case.State.CLAIMED, assignee=actor).update(
            state=Case.State.OPEN, assignee=None, updated_at=timezone.now()
        )
        case = Case.objects.filter(pk=case_id).first()
        if case is None:
            raise NotFound("No such case.")
        if released:
            audit_record(
                actor=actor,
                action="case.release",
                target_type="case",
                target_id=case.pk,
                reason=reason,
            )
            return case
    if case.state == Case.State.OPEN:
        return case
    raise Conflict("Only the staff member who claimed this case can release it.")


def case_resolve(
    *,
    case_id: int,
    actor: User,
    resolution: str,
    actions: list[CaseAction],
    reason: str,
) -> Case:
    """Resolve a case once: record the resolution, apply its actions, audit everything.

    Idempotent: resolving a resolved case with the same resolution answers the case as it is
    and only re-applies the effects outside this database (refund, take-down, release from the
    quarantine), which are idempotent themselves, so a crash between the commit and those
    effects heals on retry. A different resolution of a resolved case is a 409.

    The person is e-mailed once, on the first resolution, after those effects, so the e-mail
    says what was really put right (credits, images, a lifted suspension).
    """
    reason = reason.strip()
    _validate(resolution=resolution, actions=actions, reason=reason)
    lifted: list[Suspension] = []
    first_time = False
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise NotFound("No such case.")
        if case.state == Case.State.RESOLVED:
            if case.resolution != resolution:
                raise Conflict(f"This case was already resolved as {case.resolution}.")
        else:
            if case.state == Case.State.CLAIMED and case.assignee_id != actor.pk:
                raise Conflict(
                    f"This case is claimed by {case.assignee}; only they can resolve it."
                )
            _check_applicable(case=case, actions=actions)
            case.state = Case.State.RESOLVED
            case.assignee = case.assignee or actor
            case.resolution = resolution
            case.actions = [action.as_dict() for action in actions]
            case.resolution_reason = reason
            case.resolved_by = actor
            case.resolved_at = timezone.now()
            case.save()
            audit_record(
                actor=actor,
                action="case.resolve",
                target_type="case",
                target_id=case.pk,
                reason=reason,
                details={"resolution": resolution, "actions": case.actions},
            )
            lifted = _apply_in_database(case=case, actor=actor, reason=reason)
            first_time = True
    remedy = _apply_outside_database(case=case, actor=actor, reason=reason)
    if first_time:
        _notify(case=case, remedy=dataclasses.replace(remedy, lifted=lifted))
    return case


@dataclass(frozen=True)
class Remedy:
    """What an overturned case put right, for the person's e-mail."""

    refunded_credits: int = 0
    released_images: int = 0
    lifted: list[Suspension] = field(default_factory=list)


def _notify(*, case: Case, remedy: Remedy) -> None:
    if case.source == Case.Source.APPEAL:
        from moderation.services.appeals import appeal_outcome_notify  # appeals builds on us

        appeal_outcome_notify(case=case, remedy=remedy)
    elif remedy.lifted and case.subject_user is not None:
        enforcement.suspension_lifted_notify(user=case.subject_user, suspensions=remedy.lifted)


def _validate(*, resolution: str, actions: list[CaseAction], reason: str) -> None:
    if resolution not in ACTIONS_BY_RESOLUTION:
        raise InvalidRequest("'resolution' must be 'upheld' or 'overturned'.", param="resolution")
    if not reason:
        raise InvalidRequest("A reason is required to resolve a case.", param="reason")
    allowed = ACTIONS_BY_RESOLUTION[resolution]
    for action in actions:
        if action.type not in allowed:
            raise InvalidRequest(
                f"Action '{action.type}' does not fit the resolution '{resolution}' "
                f"(allowed: {', '.join(sorted(allowed))}).",
                param="actions",
            )
        if action.type == Action.SUSPEND and action.days is None:
            raise InvalidRequest("A suspension needs 'days'.", param="actions")
        if action.type != Action.SUSPEND and action.days is not None:
            raise InvalidRequest("Only a suspension takes 'days'.", param="actions")
    types = [action.type for action in actions]
    if len(set(types)) != len(types):
        raise InvalidRequest("Each action may appear once.", param="actions")
    if {Action.SUSPEND, Action.BAN} <= set(types):
        raise InvalidRequest("Choose a suspension or a ban, not both.", param="actions")


def _check_applicable(*, case: Case, actions: list[CaseAction]) -> None:
    """Refuse actions the case has nothing to act on, before anything changes."""
    for action in actions:
        if action.type in (Action.REMOVE_IMAGE, Action.RESTORE_IMAGE) and case.image_id is None:
            raise InvalidRequest("This case concerns no image.", param="actions")
        if action.type in (Action.WARN, Action.SUSPEND, Action.BAN) and case.subject_user is None:
            raise InvalidRequest("This case concerns no user account.", param="actions")
        if action.type in _GENERATION_SERVICE_FOR:
            _generation_service(_GENERATION_SERVICE_FOR[action.type])  # fails before any change


# Image actions are generation's services (it owns images, files and share links).
_GENERATION_SERVICE_FOR = {
    Action.REMOVE_IMAGE: "image_take_down",
    Action.RESTORE_IMAGE: "image_restore",
}


def _generation_service(name: str) -> Callable[..., object]:
    from generation.services import images

    service = getattr(images, name, None)
    if service is None:
        raise ServiceUnavailable(f"This action is not available: generation has no {name} yet.")
    return service


def _apply_in_database(*, case: Case, actor: User, reason: str) -> list[Suspension]:
    """The case's actions on this app's rows; answers the suspensions the resolution lifted."""
    subject = case.subject_user
    lifted: list[Suspension] = []
    for action in [CaseAction(**a) for a in case.actions]:
        if action.type in (Action.APPROVE, Action.OVERTURN):
            lifted += _overturn(case=case, actor=actor, reason=reason)
        elif action.type == Action.WARN:
            assert subject is not None  # _check_applicable refused it otherwise
            enforcement.user_warn(user=subject, actor=actor, reason=reason, case=case)
        elif action.type in (Action.SUSPEND, Action.BAN):
            assert subject is not None
            enforcement.suspension_for_days(
                user=subject,
                days=action.days if action.type == Action.SUSPEND else None,
                reason=reason,
                actor=actor,
                end_user=action.end_user,
                case=case,
            )
        elif action.type in (Action.REMOVE_IMAGE, Action.RESTORE_IMAGE):
            audit_record(
                actor=actor,
                action="image.remove" if action.type == Action.REMOVE_IMAGE else "image.restore",
                target_type="image",
                target_id=case.image_id,
                reason=reason,
                details={"case_id": case.pk},
            )
    return lifted


def _overturn(*, case: Case, actor: User, reason: str) -> list[Suspension]:
    """The flag was wrong. A strikes case lifts the suspension it caused; any other case marks
    its decision overturned: a false positive of the rule that fired (transparency figures),
    whose strike stops counting, so a suspension it caused is lifted at once when the strikes
    left no longer justify it. Answers the suspensions lifted."""
    if case.source == Case.Source.STRIKES:
        return enforcement.suspensions_lift_for_case(case=case, actor=actor, reason=reason)
    if case.decision is None:
        return []
    updated = Decision.objects.filter(pk=case.decision.pk, overturned=False).update(overturned=True)
    if not updated:
        return []
    audit_record(
        actor=actor,
        action="decision.overturn",
        target_type="decision",
        target_id=case.decision.pk,
        reason=reason,
        details={"case_id": case.pk},
    )
    # strikes builds on this module (a suspension opens a case), hence the import here.
    from moderation.services.strikes import suspensions_lift_after_overturn

    return suspensions_lift_after_overturn(decision=case.decision, actor=actor, reason=reason)


def _apply_outside_database(*, case: Case, actor: User, reason: str) -> Remedy:
    """Effects owned by other apps, each idempotent, run after this app's transaction commits
    (billing's money services run in their own durable transaction).

    The refund comes first: it is decided by the image being taken down, which a restore then
    undoes, so a retry after a crash between the two still refunds (once, keyed per image)."""
    types = {action["type"] for action in case.actions}
    refunded = _refund_overturned_image(case=case) if Action.OVERTURN in types else 0
    for action_type, name in _GENERATION_SERVICE_FOR.items():
        if action_type in types:
            _generation_service(name)(image_id=case.image_id, actor=actor, reason=reason)
    released = 0
    if case.resolution == Case.Resolution.OVERTURNED:
        released = _release_withheld_image(case=case, actor=actor, reason=reason)
    return Remedy(refunded_credits=refunded, released_images=released)


def _refund_overturned_image(*, case: Case) -> int:
    """Credits back for exactly what the overturned decision took: the price of the case's
    image when it was taken down after being delivered (and so charged). Nothing else of its
    generation: the other images were delivered and kept. A withheld image was never charged
    (it is given back free instead) and a prompt or upload block never reserved credits."""
    if case.source == Case.Source.STRIKES or case.image_id is None:
        return 0
    image = Image.objects.select_related("generation").filter(pk=case.image_id).first()
    if image is None or image.status != Image.Status.REMOVED:
        return 0
    entry = credits_refund_image(
        generation_id=image.generation_id,
        image_id=image.pk,
        amount=image_price(pixels=image.generation.pixels),
        reason=f"Overturned by review (case {case.pk}).",
    )
    return entry.amount if entry is not None else 0


def _release_withheld_image(*, case: Case, actor: User, reason: str) -> int:
    """A withhold found wrong: the image leaves the quarantine for its owner, free. A copy
    already purged cannot be given back; the reviewer's resolution stands all the same."""
    if case.image_id is None:
        return 0
    if not Image.objects.filter(pk=case.image_id, status=Image.Status.WITHHELD).exists():
        return 0
    try:
        quarantine_release(image_id=case.image_id, actor=actor.pk, reason=reason)
    except Conflict as gone:
        logger.warning("case %s: image %s not released: %s", case.pk, case.image_id, gone)
        return 0
    return 1


def case_open_for_report(
    *, image_id: uuid.UUID, reporter: User | None, reason: str, details: str = ""
) -> Case:
    """The contract name (docs/contracts.md) for a report of a shared image: records the
    report and answers the case it joined."""
    from moderation.services.reports import report_create  # reports builds on this module

    report = report_create(image_id=image_id, reporter=reporter, reason=reason, details=details)
    assert report.case is not None  # report_create always files it in a case
    return report.case
