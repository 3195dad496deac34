"""Likeness protection by enrolment: a person's own face, or a public figure's, made
ungeneratable for everyone else.

- `likeness_enrol`: a signed-in person enrols their own face from a few photos, with their
  consent recorded (the statement they agreed to and when). From then on, outputs and uploads
  whose faces match it are withheld for everyone but them (`moderation.services.image_screening`).
- `likeness_enrol_public_figure`: staff do the same for a registered public figure, with each
  photo's source recorded.
- Enrolment only ever blocks, so a false claim costs little: enrolling someone else's face only
  stops images of that face. Still, an enrolment that looks like a registered figure or another
  person's enrolment is marked for staff review and opens a case; `likeness_review` keeps or
  removes it.
- `likeness_withdraw`: the person withdraws; the embeddings are deleted at once.
- Every enrolment, review, removal, withdrawal and match writes an audit entry in the same
  transaction (`likeness_match_record` for matches, called by image screening).

Photos are never stored: only the embeddings, computed with the image screen's own model.
"""

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from moderation.images.analysis import EnrolmentMatch
from moderation.images.faces import EMBEDDING_MODEL, embedding_distance
from moderation.models import (
    Case,
    Category,
    Decision,
    EnrolledFace,
    LikenessEnrolment,
    PublicFigure,
)
from moderation.selectors.enrolments import enrolled_references
from moderation.selectors.figures import figure_references
from moderation.services.audit import audit_record
from moderation.services.cases import case_open
from moderation.services.figures import ReferencePhoto, photo_face_embedding

MIN_PHOTOS = 1
MAX_PHOTOS = 5
# Photos of one person are closer than this to each other (the same person's crops measured
# 0.03-0.39 apart; different people 0.6 and more): a set that is not is refused.
SAME_PERSON_MAX_DISTANCE = 0.55
# An enrolment this close to a registered figure or to another person's enrolment looks like
# someone else: staff review it (the policy's default likeness threshold).
LOOKS_LIKE_MAX_DISTANCE = 0.5
SOURCE_MAX_LENGTH = 500
CONSENT_TEXT = (
    "I am the person in these photos. I ask Easel to refuse to make or accept images of my face "
    "requested by anyone else. Easel keeps a numerical description of my face, never the "
    "photos, for this purpose only, until I withdraw, which deletes it."
)


def likeness_enrol(
    *, user: User, photos: Sequence[ReferencePhoto], consent: bool
) -> LikenessEnrolment:
    """Enrol the signed-in person's own face. Adds the photos to their active enrolment when
    they have one (at most MAX_PHOTOS in all). Refuses, changing nothing, without consent, with
    too few or too many photos, a photo without exactly one face, or photos of different people.
    """
    if not consent:
        raise InvalidRequest(
            "Enrolment needs your consent: confirm that these are photos of you and that you "
            "agree to the statement.",
            param="consent",
        )
    embeddings = _embeddings(photos)
    with transaction.atomic():
        # One active enrolment per person (a partial unique constraint): the row lock makes
        # two enrolments at once add to one, instead of one failing on the constraint.
        User.objects.select_for_update().filter(pk=user.pk).first()
        enrolment = LikenessEnrolment.objects.filter(
            user=user, kind=LikenessEnrolment.Kind.SELF, state=LikenessEnrolment.State.ACTIVE
        ).first()
        created = enrolment is None
        if enrolment is None:
            enrolment = _create(user=user)
        existing = list(enrolment.faces.values_list("embedding", flat=True))
        if len(existing) + len(embeddings) > MAX_PHOTOS:
            raise InvalidRequest(
                f"An enrolment holds at most {MAX_PHOTOS} photos; you have {len(existing)}. "
                "Withdraw it to start again.",
                param="photos",
            )
        _same_person([*existing, *(embedding for embedding, _ in embeddings)])
        EnrolledFace.objects.bulk_create(
            EnrolledFace(
                enrolment=enrolment,
                embedding=embedding,
                embedding_model=EMBEDDING_MODEL,
                source=source,
            )
            for embedding, source in embeddings
        )
        looks_like = _looks_like(
            [embedding for embedding, _ in embeddings], exclude_enrolment=enrolment.pk
        )
        if looks_like and not enrolment.needs_review:
            enrolment.needs_review, enrolment.review_reason = True, looks_like
        enrolment.consent_text, enrolment.consent_at = CONSENT_TEXT, timezone.now()
        enrolment.save()
        audit_record(
            actor=user,
            action="likeness.enrol" if created else "likeness.enrol_more",
            target_type="likeness_enrolment",
            target_id=enrolment.pk,
            details={"photos": len(embeddings), "needs_review": enrolment.needs_review},
        )
        if looks_like:
            _open_review_case(enrolment=enrolment, reason=looks_like)
    return enrolment


def likeness_enrol_public_figure(
    *, actor: User, figure_id: int, photos: Sequence[ReferencePhoto], source: str
) -> LikenessEnrolment:
    """Staff enrol a registered public figure's face; `source` says where the photos came from
    (a URL, an agency and credit). Withheld for everyone: the figure has no owner here."""
    source = " ".join((source or "").split())
    if not source:
        raise InvalidRequest(
            "Say where the photos come from (a URL, or the agency and credit).", param="source"
        )
    if len(source) > SOURCE_MAX_LENGTH:
        raise InvalidRequest(f"A source is at most {SOURCE_MAX_LENGTH} characters.", param="source")
    figure = PublicFigure.objects.filter(pk=figure_id, is_active=True).first()
    if figure is None:
        raise NotFound(f"No active public figure with id {figure_id}.")
    embeddings = _embeddings(photos)
    _same_person([embedding for embedding, _ in embeddings])
    with transaction.atomic():
        enrolment = LikenessEnrolment.objects.create(
            kind=LikenessEnrolment.Kind.PUBLIC_FIGURE, figure=figure, enrolled_by=actor
        )
        EnrolledFace.objects.bulk_create(
            EnrolledFace(
                enrolment=enrolment,
                embedding=embedding,
                embedding_model=EMBEDDING_MODEL,
                source=f"{source} ({name})" if name else source,
            )
            for embedding, name in embeddings
        )
        audit_record(
            actor=actor,
            action="likeness.enrol_public_figure",
            target_type="likeness_enrolment",
            target_id=enrolment.pk,
            details={"figure_id": figure.pk, "photos": len(embeddings), "source": source},
        )
    return enrolment


def likeness_withdraw(*, user: User, enrolment_id: int) -> LikenessEnrolment:
    """The person withdraws their enrolment: its embeddings are deleted now. Idempotent: a
    second withdrawal answers the withdrawn enrolment and writes nothing."""
    with transaction.atomic():
        enrolment = (
            LikenessEnrolment.objects.select_for_update()
            .filter(pk=enrolment_id, user=user, kind=LikenessEnrolment.Kind.SELF)
            .first()
        )
        if enrolment is None:
            raise NotFound(f"You have no likeness enrolment with id {enrolment_id}.")
        if enrolment.state != LikenessEnrolment.State.ACTIVE:
            return enrolment
        deleted = _end(enrolment=enrolment, state=LikenessEnrolment.State.WITHDRAWN)
        audit_record(
            actor=user,
            action="likeness.withdraw",
            target_type="likeness_enrolment",
            target_id=enrolment.pk,
            details={"embeddings_deleted": deleted},
        )
    return enrolment


def likeness_review(
    *, actor: User, enrolment_id: int, keep: bool, reason: str
) -> LikenessEnrolment:
    """Staff decide on an enrolment marked for review: keep it (it is the person's own face)
    or remove it (its embeddings are deleted). A reason is required; both are audited."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("Give a reason for the decision.", param="reason")
    with transaction.atomic():
        enrolment = LikenessEnrolment.objects.select_for_update().filter(pk=enrolment_id).first()
        if enrolment is None:
            raise NotFound(f"No likeness enrolment with id {enrolment_id}.")
        if enrolment.state != LikenessEnrolment.State.ACTIVE:
            raise InvalidRequest(
                f"This enrolment is {enrolment.state} already.", param="enrolment_id"
            )
        enrolment.reviewed_by, enrolment.reviewed_at = actor, timezone.now()
        enrolment.needs_review = False
        details: dict = {"kept": keep}
        if keep:
            enrolment.save()
        else:
            details["embeddings_deleted"] = _end(
                enrolment=enrolment, state=LikenessEnrolment.State.REMOVED
            )
        audit_record(
            actor=actor,
            action="likeness.review_keep" if keep else "likeness.remove",
            target_type="likeness_enrolment",
            target_id=enrolment.pk,
            reason=reason,
            details=details,
        )
    return enrolment


def likeness_match_record(*, decision: Decision, matches: Sequence[EnrolmentMatch]) -> None:
    """Audit each enrolment an image matched (inside the screening decision's transaction)."""
    for match in matches:
        audit_record(
            actor=None,
            action="likeness.match",
            target_type="likeness_enrolment",
            target_id=match.enrolment_id,
            details={
                "decision_id": decision.pk,
                "stage": decision.stage,
                "outcome": decision.outcome,
                "distance": round(match.distance, 4),
            },
        )


# -- helpers -----------------------------------------------------------------------------------


def _create(*, user: User) -> LikenessEnrolment:
    try:
        with transaction.atomic():
            return LikenessEnrolment.objects.create(
                kind=LikenessEnrolment.Kind.SELF, user=user, enrolled_by=user
            )
    except IntegrityError:  # the user row lock makes this unreachable; the constraint stays
        raise InvalidRequest("You already have an active enrolment.", param="photos") from None


def _embeddings(photos: Sequence[ReferencePhoto]) -> list[tuple[list[float], str]]:
    if not MIN_PHOTOS <= len(photos) <= MAX_PHOTOS:
        raise InvalidRequest(
            f"Send between {MIN_PHOTOS} and {MAX_PHOTOS} photos of your face "
            "(three, from different angles, work best).",
            param="photos",
        )
    return [(photo_face_embedding(photo), photo.source_name) for photo in photos]


def _same_person(embeddings: Sequence[list[float]]) -> None:
    for index, first in enumerate(embeddings):
        for second in embeddings[index + 1 :]:
            if embedding_distance(first, second) > SAME_PERSON_MAX_DISTANCE:
                raise InvalidRequest(
                    "These photos do not all show the same person. Send photos of one face.",
                    param="photos",
                )


def _looks_like(embeddings: Sequence[list[float]], *, exclude_enrolment: int) -> str:
    """Why these faces need a person's look ("" when they do not): close to a registered
    figure's reference face, or to another person's enrolment."""

    figures, enrolled = figure_references(), enrolled_references()
    for embedding in embeddings:
        near_figure = figures.nearest_per_figure(embedding, max_distance=LOOKS_LIKE_MAX_DISTANCE)
        if near_figure:
            return (
                f"looks like public figure {near_figure[0][0]} (distance {near_figure[0][1]:.2f})"
            )
        for enrolment_id, distance in enrolled.faces.nearest_per_figure(
            embedding, max_distance=LOOKS_LIKE_MAX_DISTANCE
        ):
            if enrolment_id != exclude_enrolment:
                return f"looks like enrolment {enrolment_id} (distance {distance:.2f})"
    return ""


def _open_review_case(*, enrolment: LikenessEnrolment, reason: str) -> None:

    case_open(
        source=Case.Source.ENROLMENT_REVIEW,
        category=Category.PUBLIC_FIGURE,
        subject_user=enrolment.user,
        summary=f"Likeness enrolment {enrolment.pk} {reason}: is it the person's own face?",
    )


def _end(*, enrolment: LikenessEnrolment, state: str) -> int:
    deleted, _ = enrolment.faces.all().delete()
    enrolment.state, enrolment.ended_at = state, timezone.now()
    enrolment.save()
    return deleted
