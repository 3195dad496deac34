"""Appeals: a user asks a person to look again at a block or a removal.

An appeal opens a case. A reviewer who overturns it (cases.case_resolve) marks the decision
overturned (a false positive of the rule that fired, in the transparency figures), so its strike
stops counting and a suspension it caused is lifted; gives a withheld image back from the
quarantine, free; and refunds exactly what a taken-down image cost. The e-mail says which.
"""

import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from accounts.models import User
from common.errors import Conflict, InvalidRequest, NotFound
from common.locks import advisory_lock
from generation.models import Image  # a read across apps; generation owns the row
from moderation.models import Appeal, Case, Decision, Outcome
from moderation.services.cases import Remedy, case_open
from moderation.services.enforcement import suspension_lift_sentence

APPEAL_TEXT_MAX = 1000


def appeal_create(
    *,
    user: User,
    text: str,
    decision_id: int | None = None,
    image_id: uuid.UUID | None = None,
) -> Appeal:
    """Appeal one block (`decision_id`) or one withheld or removed image (`image_id`)."""
    text = (text or "").strip()
    if not text:
        raise InvalidRequest(
            "Tell us in a few words why this should be looked at again.", param="text"
        )
    if len(text) > APPEAL_TEXT_MAX:
        raise InvalidRequest(f"Keep the appeal under {APPEAL_TEXT_MAX} characters.", param="text")
    if (decision_id is None) == (image_id is None):
        raise InvalidRequest("Appeal either a 'decision_id' or an 'image_id'.", param="decision_id")
    decision: Decision | None
    if decision_id is not None:
        decision = _appealable_decision(user=user, decision_id=decision_id)
        generation_id = decision.generation_id
        image_id = decision.image_id
    else:
        assert image_id is not None
        decision, generation_id = _appealable_image(user=user, image_id=image_id)
    with transaction.atomic():
        # One appeal per block or image, even when the same request arrives twice at once.
        advisory_lock(key=f"appeal:{user.pk}:{decision.pk if decision else image_id}")
        if _already_appealed(user=user, decision=decision, image_id=image_id):
            raise Conflict("You have already appealed this. A person will look at it soon.")
        case = case_open(
            source=Case.Source.APPEAL,
            decision=decision,
            subject_user=user,
            image_id=image_id,
            generation_id=generation_id,
            summary=f"Appeal: {text}",
        )
        try:
            with transaction.atomic():
                return Appeal.objects.create(
                    user=user, decision=decision, image_id=image_id, text=text, case=case
                )
        except IntegrityError as error:  # the unique (user, decision) constraint
            raise Conflict("You have already appealed this.") from error


def _appealable_decision(*, user: User, decision_id: int) -> Decision:
    decision = Decision.objects.filter(pk=decision_id, user=user).first()
    if decision is None:
        raise NotFound("No such decision on your account.", param="decision_id")
    if decision.outcome != Outcome.BLOCK:
        raise InvalidRequest("Only a block can be appealed.", param="decision_id")
    if decision.overturned:
        raise Conflict("This decision was already overturned.", param="decision_id")
    return decision


def _appealable_image(*, user: User, image_id: uuid.UUID) -> tuple[Decision | None, uuid.UUID]:
    """A withheld or removed image of the user's. A withheld one carries its output decision,
    so overturning it counts against the rule that withheld it."""

    image = Image.objects.filter(pk=image_id, generation__user=user).first()
    if image is None:
        raise NotFound("No such image on your account.", param="image_id")
    if image.status not in (Image.Status.WITHHELD, Image.Status.REMOVED):
        raise InvalidRequest("Only a withheld or removed image can be appealed.", param="image_id")
    decision = (
        Decision.objects.filter(image_id=image_id, outcome=Outcome.BLOCK, overturned=False)
        .order_by("-created_at")
        .first()
    )
    return decision, image.generation_id


def _already_appealed(*, user: User, decision: Decision | None, image_id: uuid.UUID | None) -> bool:
    if decision is not None:
        return Appeal.objects.filter(user=user, decision=decision).exists()
    return Appeal.objects.filter(user=user, image_id=image_id).exists()


def appeal_outcome_notify(*, case: Case, remedy: Remedy) -> None:
    """Tell the person who appealed what a reviewer decided and what was put right, once the
    decision is committed. In plain words only: neither the staff note nor the rule's scores."""
    user = case.subject_user
    if user is None or not user.email or user.deleted_at is not None:
        return
    if case.resolution == Case.Resolution.OVERTURNED:
        outcome = " ".join(
            ["A reviewer agreed with you and overturned the decision.", *_put_right(remedy)]
        )
    else:
        outcome = "A reviewer looked again and the decision stands under Easel's content policy."
    email = user.email
    transaction.on_commit(
        lambda: send_mail(
            subject="Your Easel appeal has been reviewed",
            message=f"{outcome}\n\nThank you for helping us get these decisions right.\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
            fail_silently=True,
        )
    )


def _put_right(remedy: Remedy) -> list[str]:
    sentences = []
    if remedy.released_images:
        sentences.append(
            "The image that was withheld is now in your history, free of charge."
            if remedy.released_images == 1
            else f"The {remedy.released_images} images that were withheld are now in your "
            "history, free of charge."
        )
    if remedy.refunded_credits:
        plural = "s" if remedy.refunded_credits != 1 else ""
        sentences.append(
            f"{remedy.refunded_credits} credit{plural} it cost have been returned to your balance."
        )
    if remedy.lifted:
        sentences.append(suspension_lift_sentence(suspensions=remedy.lifted))
    return sentences
