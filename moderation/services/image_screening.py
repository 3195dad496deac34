"""Screening images: uploads (edits, variations) and every output image, in the GPU worker.

Both stages run the same analysis (faces, likeness to registered public figures, NSFW score,
photo-realism) and then apply the current policy version:

- public_figure: a face closer to a registered figure than the policy allows, or to an
  enrolled likeness (`moderation.services.likeness`) that protects someone other than the
  requesting user. Blocks uploads and withholds outputs; the staff record
  (Decision.matched_figure, scores.enrolment_matches) names who, the user's message never does,
  and each enrolment match is audited. No consent statement overrides it.
- sexual: the NSFW score at or above the policy threshold.
- realistic_face_upload (uploads only): a photo-real human face is refused unless the user
  states they have the consent of the person shown AND their tier allows face uploads. Accepted
  ones are logged like every decision and a share of them (MODERATION_FACE_UPLOAD_SAMPLE_RATE)
  opens a review case. Outputs may show faces: people who do not exist are allowed.

Thresholds come from the policy rule of each category: `image_threshold` when a rule has one,
else `threshold` (the public-figure threshold is a likeness, 1 - embedding distance). A withheld
output opens a case when its score reaches the rule's `case_threshold` (CASE_THRESHOLDS below by
default), so reviewers see the clear cases, not every near miss.
"""

import hashlib
import random
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from PIL import Image

from accounts.models import User
from common.locks import advisory_lock, advisory_locks
from moderation.images.analysis import (
    ImageAnalysis,
    analyze_images,
    image_models_load,
    image_models_loaded,
)
from moderation.models import Case, Category, Decision, Outcome, PolicyVersion, PublicFigure
from moderation.policy import policy_current, rule_for
from moderation.services.cases import case_open
from moderation.services.decisions import decisions_record
from moderation.services.likeness import likeness_match_record
from moderation.services.strikes import strike_record, strike_warning
from moderation.verdicts import Verdict, message_for

SEVERITY: dict[str, int] = {Outcome.ALLOW: 0, Outcome.REVIEW: 1, Outcome.BLOCK: 2}
CASE_THRESHOLDS: dict[str, float] = {Category.SEXUAL: 0.8, Category.PUBLIC_FIGURE: 0.6}
# Categories whose blocked upload counts a strike. A real face without the consent statement
# does not: it is an honest mistake the user fixes by ticking a box, not an abuse attempt.
STRIKE_CATEGORIES = {Category.PUBLIC_FIGURE, Category.SEXUAL}

FACE_NO_CONSENT_MESSAGE = (
    "This image shows a real person's face. To edit it, confirm that you have the consent of "
    "the person shown."
)
FACE_TIER_MESSAGE = (
    "This image shows a real person's face, and your plan does not allow uploads of real "
    "people's faces. Upgrade your plan to edit photos of people who consented."
)


@dataclass(frozen=True)
class Finding:
    category: str
    action: str
    score: float


def image_threshold(rule: dict) -> float:
    return float(rule.get("image_threshold", rule.get("threshold", 1.0)))


def case_threshold(rule: dict, category: str) -> float:
    return float(rule.get("case_threshold", CASE_THRESHOLDS.get(category, 1.0)))


def image_screen_ready() -> bool:
    """Can this process screen an image without loading a model first? Cheap: for /readyz."""
    return image_models_loaded()


def image_screen_preload() -> None:
    """Starts loading the image models on a thread, so no upload or output waits for them:
    web entry points and Celery worker children call it at start (never a process that forks
    afterwards: faces.py). `MODERATION_PRELOAD=0` turns it off (the test suite)."""
    if getattr(settings, "MODERATION_PRELOAD", True):
        threading.Thread(
            target=image_models_load, name="moderation-image-preload", daemon=True
        ).start()


def upload_screen(
    *,
    image: Image.Image,
    user: User,
    face_consent: bool,
    end_user: str = "",
    generation_id: uuid.UUID | None = None,
    references: tuple[Image.Image, ...] = (),
) -> Verdict:
    """Screen an uploaded image, and the reference images sent with it, before it is edited or
    varied: one decision for the upload, that of its most severe image (`_upload_judged`).
    Idempotent on `generation_id` (when given): a retried or duplicated task gets the verdict
    recorded for its generation. The models run before the transaction, so no lock is held for
    the ~100 ms per image they take."""
    if generation_id is not None:
        existing = Decision.objects.filter(
            stage=Decision.Stage.UPLOAD, generation_id=generation_id
        ).first()
        if existing is not None:
            return verdict_for(decision=existing)
    policy = policy_current()
    judged = _upload_judged(
        images=(image, *references), policy=policy, user=user, face_consent=face_consent
    )
    analysis, findings = judged.analysis, judged.findings
    scores = {
        **_scores(image=judged.image, analysis=analysis),
        "face_consent": bool(face_consent),
        "tier_allows_faces": bool(user.tier.face_uploads_allowed),
    }
    if references:
        scores["upload_images"] = {"count": 1 + len(references), "deciding": judged.index}
    with transaction.atomic():
        if generation_id is not None:
            # Two runs of one task at once: the second waits here, then returns the first's.
            advisory_lock(key=f"upload-screen:{generation_id}")
            existing = Decision.objects.filter(
                stage=Decision.Stage.UPLOAD, generation_id=generation_id
            ).first()
            if existing is not None:
                return verdict_for(decision=existing)
        built = _decision(
            stage=Decision.Stage.UPLOAD,
            policy=policy,
            analysis=analysis,
            findings=findings,
            scores=scores,
            user=user,
            end_user=end_user,
            generation_id=generation_id,
            image_id=None,
        )
        (decision,) = _store([(built, analysis)])
        if decision.outcome == Outcome.BLOCK and STRIKE_CATEGORIES & set(decision.categories):
            strike_record(user=user, end_user=end_user, decision=decision)
        elif decision.outcome == Outcome.REVIEW:
            case_open(source=Case.Source.REVIEW_DECISION, decision=decision)
        elif _is_consented_face(decision) and _sampled():
            case_open(
                source=Case.Source.FACE_UPLOAD_SAMPLE,
                decision=decision,
                category=Category.REALISTIC_FACE_UPLOAD,
                summary="A sampled upload of a real face, accepted with the consent statement.",
            )
    return verdict_for(decision=decision)


def upload_judge(
    *,
    image: Image.Image,
    user: User,
    face_consent: bool,
    references: tuple[Image.Image, ...] = (),
) -> tuple[str, list[str]]:
    """What `upload_screen` would decide under the current policy, recording nothing (no
    decision, no strike, no case): the free preflight's answer. Most severe category first."""
    judged = _upload_judged(
        images=(image, *references),
        policy=policy_current(),
        user=user,
        face_consent=face_consent,
    )
    findings = _most_severe_first(judged.findings)
    outcome = findings[0].action if findings else Outcome.ALLOW
    return outcome, [finding.category for finding in findings if finding.action != Outcome.ALLOW]


@dataclass(frozen=True)
class _Judged:
    index: int  # which of the upload's images decided: 0 the image, 1.. its references
    image: Image.Image
    analysis: ImageAnalysis
    findings: list[Finding]


def _upload_judged(
    *, images: tuple[Image.Image, ...], policy: PolicyVersion, user: User, face_consent: bool
) -> _Judged:
    """Every image of an upload is judged by the same rules (a reference of a public figure or
    of a real face steers the result towards that face as surely as the edited image does); the
    upload's decision is its most severe image's (then the one with most findings, so an
    accepted consented face is still the one recorded and sampled; then the first)."""
    judged = []
    analyses = _analyze(images=images, policy=policy)  # one batch: the image and its references
    for index, (picture, analysis) in enumerate(zip(images, analyses, strict=True)):
        findings = _upload_findings(
            policy=policy, analysis=analysis, user=user, face_consent=face_consent
        )
        judged.append(_Judged(index=index, image=picture, analysis=analysis, findings=findings))
    return max(judged, key=lambda one: (_severity(one.findings), len(one.findings), -one.index))


def _most_severe_first(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: SEVERITY[finding.action], reverse=True)


def _severity(findings: list[Finding]) -> int:
    return max((SEVERITY[finding.action] for finding in findings), default=0)


def _upload_findings(
    *, policy: PolicyVersion, analysis: ImageAnalysis, user: User, face_consent: bool
) -> list[Finding]:
    """An upload's findings: both stages' categories, and a realistic face, allowed only with
    the consent statement on a tier that takes faces."""
    findings = _findings(policy=policy, analysis=analysis, user=user)
    if analysis.realistic_face:
        rule = rule_for(policy, Category.REALISTIC_FACE_UPLOAD)
        consented = face_consent and bool(user.tier.face_uploads_allowed)
        action = Outcome.ALLOW if consented else rule["action"]
        findings.append(Finding(Category.REALISTIC_FACE_UPLOAD, action, analysis.realism_score))
    return findings


@dataclass(frozen=True)
class OutputImage:
    """A generated image to screen, and whose it is. `fresh`: its row was inserted by the
    caller just now, under an id made there, so no earlier run can have decided it: its lookup
    before the models is skipped. A concurrent run that screens it at the same moment (a
    redelivery of the job) is still found by the lookup under the lock (`outputs_screen`)."""

    picture: Image.Image
    image_id: uuid.UUID
    generation_id: uuid.UUID
    user: User
    fresh: bool = False


def output_screen(
    *, image: Image.Image, user: User, generation_id: uuid.UUID, image_id: uuid.UUID
) -> Verdict:
    """Screen one generated image before delivery: the batch of one (`outputs_screen`)."""
    (verdict,) = outputs_screen(
        outputs=[
            OutputImage(picture=image, image_id=image_id, generation_id=generation_id, user=user)
        ]
    )
    return verdict


def outputs_screen(
    *, outputs: Sequence[OutputImage], nsfw_scoring: "Future[list[float]] | None" = None
) -> list[Verdict]:
    """Screen generated images before delivery, a pipeline batch at a time: the models run
    once for the batch (`analyze_images`), then each image gets its own decision, recorded in
    one transaction. One verdict per image, in order; a block means: withhold it, never
    deliver. Idempotent on each image id, also under concurrency: one decision, one case per
    image. The models run before the transaction, so no lock is held while they do: each
    image's decision is looked up before them (unless it is fresh) to skip the models for what
    is decided, and again under its lock, which is what makes it one decision per image.

    `nsfw_scoring`: the NSFW classifier already started on the outputs' pictures, in order
    (`nsfw_scoring_start`), by a caller with work to do first (the worker, its rows). Its scores
    are used when every output is still to be decided (else the pending ones are scored anew:
    a redelivery, rare)."""
    decided = _output_decisions([output for output in outputs if not output.fresh])
    pending = list({o.image_id: o for o in outputs if o.image_id not in decided}.values())
    if pending:
        policy = policy_current()
        analyses = _analyze(
            images=[output.picture for output in pending],
            policy=policy,
            nsfw_scoring=nsfw_scoring if len(pending) == len(outputs) else None,
        )
        with transaction.atomic():
            # Two runs of one image at once: the second waits here, then returns the first's.
            advisory_locks(keys=[f"output-screen:{output.image_id}" for output in pending])
            decided |= _output_decisions(pending)
            decided |= _outputs_record(
                policy=policy,
                screened=[
                    (output, analysis)
                    for output, analysis in zip(pending, analyses, strict=True)
                    if output.image_id not in decided
                ],
            )
    return [verdict_for(decision=decided[output.image_id]) for output in outputs]


def _output_decisions(outputs: Sequence[OutputImage]) -> dict[uuid.UUID, Decision]:
    """The decisions already recorded for these images (by an earlier or a concurrent run)."""
    if not outputs:
        return {}
    recorded = Decision.objects.filter(
        stage=Decision.Stage.OUTPUT, image_id__in=[output.image_id for output in outputs]
    )
    return {decision.image_id: decision for decision in recorded if decision.image_id}


def _outputs_record(
    *, policy: PolicyVersion, screened: list[tuple[OutputImage, ImageAnalysis]]
) -> dict[uuid.UUID, Decision]:
    """One decision per screened output, stored in one INSERT; a case for each clear block
    and each review."""
    findings = [
        _findings(policy=policy, analysis=analysis, user=output.user)
        for output, analysis in screened
    ]
    decisions = _store(
        [
            (
                _decision(
                    stage=Decision.Stage.OUTPUT,
                    policy=policy,
                    analysis=analysis,
                    findings=found,
                    scores=_scores(image=output.picture, analysis=analysis),
                    user=output.user,
                    end_user="",
                    generation_id=output.generation_id,
                    image_id=output.image_id,
                ),
                analysis,
            )
            for (output, analysis), found in zip(screened, findings, strict=True)
        ]
    )
    for decision, found in zip(decisions, findings, strict=True):
        if decision.outcome == Outcome.BLOCK:
            _open_case_if_clear(policy=policy, decision=decision, findings=found)
        elif decision.outcome == Outcome.REVIEW:
            case_open(source=Case.Source.REVIEW_DECISION, decision=decision)
    return {decision.image_id: decision for decision in decisions if decision.image_id}


def verdict_for(*, decision: Decision) -> Verdict:
    """What the user is told about a recorded decision: the rule in words, no scores, no names."""
    categories = list(decision.categories)
    message = ""
    if decision.outcome != Outcome.ALLOW:
        message = message_for(categories)
        if categories and categories[0] == Category.REALISTIC_FACE_UPLOAD:
            consented = decision.scores.get("face_consent", False)
            message = FACE_TIER_MESSAGE if consented else FACE_NO_CONSENT_MESSAGE
    warning = ""
    if decision.outcome == Outcome.BLOCK and decision.stage == Decision.Stage.UPLOAD:
        warning = strike_warning(decision=decision)
    return Verdict(
        decision=decision.outcome,
        categories=categories,
        message=message,
        decision_id=decision.pk,
        warning=warning,
    )


def _analyze(
    *,
    images: Sequence[Image.Image],
    policy: PolicyVersion,
    nsfw_scoring: "Future[list[float]] | None" = None,
) -> list[ImageAnalysis]:
    likeness = image_threshold(rule_for(policy, Category.PUBLIC_FIGURE))
    return analyze_images(
        images,
        figure_max_distance=1.0 - likeness,
        realism_threshold=image_threshold(rule_for(policy, Category.REALISTIC_FACE_UPLOAD)),
        nsfw_scoring=nsfw_scoring,
    )


def _findings(*, policy: PolicyVersion, analysis: ImageAnalysis, user: User) -> list[Finding]:
    """The categories both stages check: likeness (a registered figure, or an enrolment that
    protects someone other than `user`) and sexual content."""
    findings = []
    likeness = [match.likeness for match in analysis.figure_matches[:1]] + [
        match.likeness for match in analysis.enrolment_matches_against(user.pk)[:1]
    ]
    if likeness:
        rule = rule_for(policy, Category.PUBLIC_FIGURE)
        findings.append(Finding(Category.PUBLIC_FIGURE, rule["action"], max(likeness)))
    sexual = rule_for(policy, Category.SEXUAL)
    if analysis.nsfw_score >= image_threshold(sexual):
        findings.append(Finding(Category.SEXUAL, sexual["action"], analysis.nsfw_score))
    return findings


def _decision(
    *,
    stage: str,
    policy: PolicyVersion,
    analysis: ImageAnalysis,
    findings: list[Finding],
    scores: dict,
    user: User,
    end_user: str,
    generation_id: uuid.UUID | None,
    image_id: uuid.UUID | None,
) -> Decision:
    """The decision the findings make, not stored yet (`_store`)."""
    # The most severe action decides; categories are listed most severe first, so the user's
    # message explains the rule that decided.
    findings = _most_severe_first(findings)
    outcome = findings[0].action if findings else Outcome.ALLOW
    enrolments = analysis.enrolment_matches_against(user.pk)
    figure_id = analysis.figure_matches[0].figure_id if analysis.figure_matches else None
    if figure_id is None and enrolments:
        figure_id = enrolments[0].figure_id  # a staff-enrolled figure's face
    figure = PublicFigure.objects.filter(pk=figure_id).first() if figure_id else None
    return Decision(
        stage=stage,
        outcome=outcome,
        policy_version=policy,
        categories=[finding.category for finding in findings],
        scores={**scores, "findings": {f.category: round(f.score, 4) for f in findings}},
        model_versions=analysis.model_versions,
        user=user,
        end_user=end_user,
        generation_id=generation_id,
        image_id=image_id,
        matched_figure=figure,
    )


def _store(built: list[tuple[Decision, ImageAnalysis]]) -> list[Decision]:
    """Stores the decisions (one INSERT) and audits each enrolment they matched."""
    decisions = decisions_record([decision for decision, _ in built])
    for decision, (_, analysis) in zip(decisions, built, strict=True):
        enrolments = analysis.enrolment_matches_against(decision.user_id)
        if enrolments:
            likeness_match_record(decision=decision, matches=enrolments)
    return decisions


def _open_case_if_clear(
    *, policy: PolicyVersion, decision: Decision, findings: list[Finding]
) -> None:
    for finding in findings:
        if finding.action != Outcome.BLOCK:
            continue
        if finding.score >= case_threshold(rule_for(policy, finding.category), finding.category):
            case_open(
                source=Case.Source.WITHHELD_OUTPUT,
                decision=decision,
                category=finding.category,
                summary="An output image was withheld.",
            )
            return


def _scores(*, image: Image.Image, analysis: ImageAnalysis) -> dict:
    """The analysis's numbers plus what identifies the input: size and a pixel digest."""
    return {
        **analysis.scores(),
        "image": {
            "width": image.width,
            "height": image.height,
            "sha256": hashlib.sha256(image.tobytes()).hexdigest(),
        },
        "seconds": round(analysis.seconds, 4),
    }


def _is_consented_face(decision: Decision) -> bool:
    return (
        decision.outcome == Outcome.ALLOW and Category.REALISTIC_FACE_UPLOAD in decision.categories
    )


def _sampled() -> bool:
    rate = float(getattr(settings, "MODERATION_FACE_UPLOAD_SAMPLE_RATE", 0.1))
    return random.random() < rate  # noqa: S311 - sampling, not security
