"""upload_screen and output_screen: the policy applied to the package photos, end to end
through the database (decisions, strikes, cases), with the real models."""

import dataclasses
import uuid
from concurrent.futures import Future

import pytest

from accounts.models import Tier
from moderation.images.analysis import nsfw_scoring_start
from moderation.images.faces import EMBEDDING_MODEL, face_embeddings_from_photo
from moderation.models import (
    Case,
    Category,
    Decision,
    FigureFace,
    Outcome,
    PolicyVersion,
    PublicFigure,
    Strike,
)
from moderation.policy import DEFAULT_RULES, policy_current
from moderation.selectors.figures import figure_references, figure_references_invalidate
from moderation.services.image_screening import (
    OutputImage,
    output_screen,
    outputs_screen,
    upload_screen,
)
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation import image_samples

pytestmark = pytest.mark.django_db

FIGURE_NAME = "Eileen Collins"


@pytest.fixture(scope="module")
def astronaut_embedding() -> list[float]:
    (embedding,) = face_embeddings_from_photo(image_samples.astronaut_reference_crop())
    return embedding


@pytest.fixture(autouse=True)
def _fresh_reference_cache():
    figure_references_invalidate()
    yield
    figure_references_invalidate()


@pytest.fixture
def astronaut_figure(astronaut_embedding) -> PublicFigure:
    """The astronaut, registered from one crop of her photo."""
    # The starter registry may list her already (by name, without photos).
    figure, _ = PublicFigure.objects.get_or_create(
        name=FIGURE_NAME, defaults={"category": "astronaut"}
    )
    FigureFace.objects.create(
        figure=figure, embedding=astronaut_embedding, embedding_model=EMBEDDING_MODEL
    )
    return figure


@pytest.fixture
def free_user():
    return UserFactory(tier=Tier.objects.get(name="free"))


@pytest.fixture
def plus_user():
    user = UserFactory(tier=Tier.objects.get(name="plus"))
    assert user.tier.face_uploads_allowed
    return user


def policy_with(**overrides: dict) -> PolicyVersion:
    """A new policy version with some rules changed, as staff would make it."""
    current = policy_current()
    rules = {**current.rules}
    for category, changes in overrides.items():
        rules[category] = {**rules[category], **changes}
    return PolicyVersion.objects.create(version=current.version + 1, rules=rules, reason="test")


# --- uploads -------------------------------------------------------------------------------


def test_consent_never_overrides_a_public_figure_match(astronaut_figure, plus_user):
    verdict = upload_screen(
        image=image_samples.astronaut_edited_copy(), user=plus_user, face_consent=True
    )

    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories[0] == Category.PUBLIC_FIGURE
    assert FIGURE_NAME.lower() not in verdict.message.lower()
    assert "Collins" not in verdict.as_error().message
    decision = Decision.objects.get(pk=verdict.decision_id)
    assert decision.stage == Decision.Stage.UPLOAD
    assert decision.matched_figure == astronaut_figure  # the staff record names her
    assert decision.scores["face_consent"] is True
    assert decision.policy_version == policy_current()
    assert "face_embedding" in decision.model_versions
    # Trying to upload a public figure's photo counts as a strike.
    assert Strike.objects.filter(user=plus_user, decision=decision).exists()


def test_a_public_figure_among_the_reference_images_blocks_the_upload(astronaut_figure, plus_user):
    """References steer the result towards their faces as the edited image does: the upload's
    one decision is its most severe image's, with its figure on the staff record."""
    generation_id = uuid.uuid4()
    verdict = upload_screen(
        image=image_samples.cat(),
        references=(image_samples.cartoon_face(256), image_samples.astronaut_edited_copy()),
        user=plus_user,
        face_consent=True,
        generation_id=generation_id,
    )

    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories[0] == Category.PUBLIC_FIGURE
    decision = Decision.objects.get(pk=verdict.decision_id)
    assert decision.matched_figure == astronaut_figure
    assert decision.scores["upload_images"] == {"count": 3, "deciding": 2}
    assert Strike.objects.filter(user=plus_user, decision=decision).exists()
    assert Decision.objects.filter(generation_id=generation_id).count() == 1


def test_harmless_reference_images_leave_the_upload_allowed(free_user):
    verdict = upload_screen(
        image=image_samples.cat(),
        references=(image_samples.cartoon_face(256),),
        user=free_user,
        face_consent=False,
    )
    assert verdict.decision == Outcome.ALLOW
    assert Decision.objects.get(pk=verdict.decision_id).scores["upload_images"]["count"] == 2


def test_a_real_face_without_the_consent_statement_is_refused_without_a_strike(plus_user):
    verdict = upload_screen(image=image_samples.grace_hopper(), user=plus_user, face_consent=False)

    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories == [Category.REALISTIC_FACE_UPLOAD]
    assert "consent" in verdict.message
    assert not Strike.objects.filter(user=plus_user).exists()
    assert Decision.objects.get(pk=verdict.decision_id).matched_figure is None


def test_a_real_face_with_consent_is_refused_when_the_tier_does_not_allow_it(free_user):
    verdict = upload_screen(image=image_samples.grace_hopper(), user=free_user, face_consent=True)

    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories == [Category.REALISTIC_FACE_UPLOAD]
    assert "plan" in verdict.message


def test_a_consented_real_face_on_a_tier_that_allows_it_is_accepted_logged_and_sampled(
    plus_user, settings
):
    settings.MODERATION_FACE_UPLOAD_SAMPLE_RATE = 1.0
    generation_id = uuid.uuid4()

    verdict = upload_screen(
        image=image_samples.grace_hopper(),
        user=plus_user,
        face_consent=True,
        end_user="end-user-1",
        generation_id=generation_id,
    )

    assert verdict.decision == Outcome.ALLOW
    assert verdict.message == ""
    decision = Decision.objects.get(pk=verdict.decision_id)
    assert decision.categories == [Category.REALISTIC_FACE_UPLOAD]  # logged as a face upload
    assert decision.end_user == "end-user-1"
    case = Case.objects.get(decision=decision)
    assert case.source == Case.Source.FACE_UPLOAD_SAMPLE
    assert case.subject_user == plus_user
    # A retried task screens once: same decision, still one case.
    again = upload_screen(
        image=image_samples.grace_hopper(),
        user=plus_user,
        face_consent=True,
        generation_id=generation_id,
    )
    assert again == verdict
    assert Decision.objects.filter(generation_id=generation_id).count() == 1
    assert Case.objects.count() == 1


def test_face_uploads_are_not_sampled_at_rate_zero(plus_user, settings):
    settings.MODERATION_FACE_UPLOAD_SAMPLE_RATE = 0.0

    verdict = upload_screen(image=image_samples.grace_hopper(), user=plus_user, face_consent=True)

    assert verdict.decision == Outcome.ALLOW
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    "image", [image_samples.cartoon_face, image_samples.cat], ids=["cartoon", "cat"]
)
def test_a_cartoon_or_a_cat_needs_no_consent_even_on_the_free_tier(free_user, image):
    verdict = upload_screen(image=image(), user=free_user, face_consent=False)

    assert verdict.decision == Outcome.ALLOW
    assert verdict.categories == []
    assert Decision.objects.get(pk=verdict.decision_id).stage == Decision.Stage.UPLOAD


def test_the_realistic_face_rule_follows_the_policy_version(free_user):
    policy_with(**{Category.REALISTIC_FACE_UPLOAD: {"action": Outcome.ALLOW}})

    verdict = upload_screen(image=image_samples.grace_hopper(), user=free_user, face_consent=False)

    assert verdict.decision == Outcome.ALLOW


# --- outputs -------------------------------------------------------------------------------


def test_an_output_with_a_figures_likeness_is_withheld_and_only_staff_see_who(
    astronaut_figure, free_user
):
    generation_id, image_id = uuid.uuid4(), uuid.uuid4()

    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=free_user,
        generation_id=generation_id,
        image_id=image_id,
    )

    assert verdict.blocked
    assert verdict.categories == [Category.PUBLIC_FIGURE]
    assert "Collins" not in verdict.message and "Eileen" not in verdict.message
    decision = Decision.objects.get(pk=verdict.decision_id)
    assert decision.stage == Decision.Stage.OUTPUT
    assert decision.image_id == image_id and decision.generation_id == generation_id
    assert decision.matched_figure == astronaut_figure
    assert decision.scores["figure_matches"][0]["figure_id"] == astronaut_figure.pk
    # A clear likeness opens a case for a reviewer; no strike (the prompt was screened already).
    case = Case.objects.get(decision=decision)
    assert case.source == Case.Source.WITHHELD_OUTPUT
    assert case.image_id == image_id
    assert not Strike.objects.exists()


def test_screening_the_same_output_twice_records_it_once(astronaut_figure, free_user):
    ids = {"generation_id": uuid.uuid4(), "image_id": uuid.uuid4()}
    first = output_screen(image=image_samples.astronaut(), user=free_user, **ids)
    second = output_screen(image=image_samples.astronaut(), user=free_user, **ids)

    assert first == second
    assert Decision.objects.filter(image_id=ids["image_id"]).count() == 1
    assert Case.objects.filter(image_id=ids["image_id"]).count() == 1


def _batch_of_outputs(user) -> list[OutputImage]:  # type: ignore[no-untyped-def]
    generation_id = uuid.uuid4()
    pictures = [
        image_samples.astronaut_edited_copy(),  # her likeness: withheld, a case
        image_samples.cat(),
        image_samples.grace_hopper(),  # another person: delivered
        image_samples.astronaut(),
    ]
    return [
        OutputImage(picture=picture, image_id=uuid.uuid4(), generation_id=generation_id, user=user)
        for picture in pictures
    ]


def _recorded(verdicts) -> list[tuple]:  # type: ignore[no-untyped-def]
    """What a decision holds, less the time it took (a share of the batch's, when batched)."""
    rows = []
    for verdict in verdicts:
        decision = Decision.objects.get(pk=verdict.decision_id)
        scores = {key: value for key, value in decision.scores.items() if key != "seconds"}
        cases = sorted(Case.objects.filter(decision=decision).values_list("source", flat=True))
        rows.append(
            (decision.outcome, decision.categories, decision.matched_figure_id, scores, cases)
        )
    return rows


def test_a_batch_of_outputs_gets_the_decisions_each_gets_alone(astronaut_figure, free_user):
    outputs = _batch_of_outputs(free_user)

    batched = outputs_screen(outputs=outputs)
    alone = [
        output_screen(
            image=output.picture, user=free_user, generation_id=uuid.uuid4(), image_id=uuid.uuid4()
        )
        for output in outputs
    ]

    assert [verdict.decision for verdict in batched] == [
        Outcome.BLOCK,
        Outcome.ALLOW,
        Outcome.ALLOW,
        Outcome.BLOCK,
    ]
    assert [(v.decision, v.categories, v.message) for v in batched] == [
        (v.decision, v.categories, v.message) for v in alone
    ]
    assert _recorded(batched) == _recorded(alone)
    for output, verdict in zip(outputs, batched, strict=True):
        decision = Decision.objects.get(pk=verdict.decision_id)
        assert (decision.image_id, decision.generation_id) == (
            output.image_id,
            output.generation_id,
        )


def test_a_batch_screened_again_keeps_its_decisions_and_screens_only_what_is_new(
    astronaut_figure, free_user
):
    outputs = _batch_of_outputs(free_user)
    first = outputs_screen(outputs=outputs)
    cases = Case.objects.count()

    again = outputs_screen(outputs=outputs)
    new = _batch_of_outputs(free_user)[1]  # the cat, under a new image id
    mixed = outputs_screen(outputs=[outputs[3], new, outputs[0]])

    assert again == first
    assert mixed[0] == first[3] and mixed[2] == first[0]
    assert mixed[1].decision == Outcome.ALLOW
    assert Decision.objects.filter(image_id__in=[o.image_id for o in outputs]).count() == 4
    assert Decision.objects.filter(image_id=new.image_id).count() == 1
    assert Case.objects.count() == cases


def _scored(scores: list[float]) -> "Future[list[float]]":
    """NSFW scores as a caller that started the classifier early hands them over."""
    done: Future[list[float]] = Future()
    done.set_result(scores)
    return done


def test_the_classifier_started_before_the_screening_is_what_decides(free_user):
    """The worker starts the classifier before it writes the batch's rows (`nsfw_scoring`):
    those scores decide, with no second run. Scores of 1.0 withhold even the cat."""
    outputs = _batch_of_outputs(free_user)
    verdicts = outputs_screen(outputs=outputs, nsfw_scoring=_scored([1.0] * len(outputs)))
    assert [v.decision for v in verdicts] == [Outcome.BLOCK] * len(outputs)
    assert all(Category.SEXUAL in v.categories for v in verdicts)

    early = nsfw_scoring_start([output.picture for output in outputs])  # the real classifier
    again = _batch_of_outputs(free_user)
    assert _recorded(outputs_screen(outputs=again, nsfw_scoring=early)) == _recorded(
        outputs_screen(outputs=_batch_of_outputs(free_user))
    )


def test_scores_started_early_are_not_used_when_part_of_the_batch_was_decided(free_user):
    """A redelivery: one image already has its decision, so the scores handed over (for the
    whole batch, in order) no longer line up with what is left; the rest is scored anew."""
    outputs = _batch_of_outputs(free_user)
    outputs_screen(outputs=outputs[:1])
    verdicts = outputs_screen(outputs=outputs, nsfw_scoring=_scored([1.0] * len(outputs)))
    assert verdicts[1].decision == Outcome.ALLOW  # the cat, scored by the classifier itself


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "first_fresh", [False, True], ids=["two-redeliveries", "fresh-and-redelivery"]
)
def test_two_workers_screening_overlapping_batches_at_once_record_one_decision_each(
    astronaut_figure, free_user, first_fresh
):
    """Two runs of one batch at once: two redeliveries, or the first run (its rows fresh, so it
    looks up no earlier decision before the models) beside a redelivery."""
    outputs = _batch_of_outputs(free_user)
    first = [dataclasses.replace(output, fresh=first_fresh) for output in outputs]
    policy_current()  # seeded once here, not raced for by the two threads

    # In opposite orders: the locks are taken in one order whatever the batch's, no deadlock.
    verdicts = run_concurrently(
        [
            lambda: outputs_screen(outputs=first),
            lambda: outputs_screen(outputs=outputs[::-1]),
        ]
    )

    assert not any(isinstance(verdict, Exception) for verdict in verdicts), verdicts
    assert verdicts[0] == verdicts[1][::-1]
    for output in outputs:
        assert Decision.objects.filter(image_id=output.image_id).count() == 1
    assert Case.objects.filter(image_id__in=[o.image_id for o in outputs]).count() == 2


def test_a_fresh_image_already_decided_by_a_concurrent_run_keeps_that_decision(
    astronaut_figure, free_user
):
    # The order a redelivery and the first run can reach the lock in: the redelivery (whose
    # rows were not fresh) decided first; the first run, sure the rows are its own, comes after.
    outputs = _batch_of_outputs(free_user)
    redelivered = outputs_screen(outputs=outputs)
    cases = Case.objects.count()

    first_run = outputs_screen(
        outputs=[dataclasses.replace(output, fresh=True) for output in outputs]
    )

    assert first_run == redelivered
    for output in outputs:
        assert Decision.objects.filter(image_id=output.image_id).count() == 1
    assert Case.objects.count() == cases


def test_an_output_of_another_person_is_delivered(astronaut_figure, free_user):
    # Faces of people who are not registered figures are allowed in outputs.
    verdict = output_screen(
        image=image_samples.grace_hopper(),
        user=free_user,
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )

    assert verdict.decision == Outcome.ALLOW
    assert Decision.objects.get(pk=verdict.decision_id).matched_figure is None


def test_a_near_likeness_below_the_case_threshold_is_withheld_without_a_case(
    astronaut_figure, free_user
):
    policy_with(**{Category.PUBLIC_FIGURE: {"case_threshold": 0.99}})

    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=free_user,
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )

    assert verdict.blocked
    assert not Case.objects.exists()


def test_a_deactivated_or_added_figure_is_seen_by_the_next_image(astronaut_figure, free_user):
    def screen():
        return output_screen(
            image=image_samples.astronaut_edited_copy(),
            user=free_user,
            generation_id=uuid.uuid4(),
            image_id=uuid.uuid4(),
        )

    assert screen().blocked
    # Deactivated through a queryset update (no save(), no signal): still noticed.
    PublicFigure.objects.filter(pk=astronaut_figure.pk).update(is_active=False)
    assert screen().decision == Outcome.ALLOW
    assert astronaut_figure.pk not in figure_references().figure_ids
    PublicFigure.objects.filter(pk=astronaut_figure.pk).update(is_active=True)
    assert screen().blocked


def test_reference_faces_of_another_embedding_model_are_ignored(astronaut_embedding, free_user):
    figure = PublicFigure.objects.create(name="Someone Else")
    FigureFace.objects.create(figure=figure, embedding=astronaut_embedding, embedding_model="other")

    assert figure.pk not in figure_references().figure_ids


# --- NSFW: no NSFW test image exists offline, so the plumbing is tested with thresholds ----


def test_an_nsfw_threshold_of_zero_withholds_even_the_cat(free_user):
    policy_with(**{Category.SEXUAL: {"image_threshold": 0.0, "case_threshold": 0.0}})

    verdict = output_screen(
        image=image_samples.cat(), user=free_user, generation_id=uuid.uuid4(), image_id=uuid.uuid4()
    )

    assert verdict.blocked
    assert verdict.categories == [Category.SEXUAL]
    assert verdict.message  # in words, not scores
    assert "0." not in verdict.message
    assert Case.objects.get(decision_id=verdict.decision_id).source == Case.Source.WITHHELD_OUTPUT


def test_an_nsfw_threshold_of_one_allows_and_review_action_opens_a_review_case(free_user):
    policy_with(**{Category.SEXUAL: {"image_threshold": 1.0}})
    allowed = output_screen(
        image=image_samples.cat(), user=free_user, generation_id=uuid.uuid4(), image_id=uuid.uuid4()
    )
    assert allowed.decision == Outcome.ALLOW

    policy_with(**{Category.SEXUAL: {"image_threshold": 0.0, "action": Outcome.REVIEW}})
    reviewed = output_screen(
        image=image_samples.cat(), user=free_user, generation_id=uuid.uuid4(), image_id=uuid.uuid4()
    )
    assert reviewed.decision == Outcome.REVIEW
    assert Case.objects.get(decision_id=reviewed.decision_id).source == Case.Source.REVIEW_DECISION


def test_an_nsfw_upload_over_the_threshold_is_blocked_with_a_strike(free_user):
    policy_with(**{Category.SEXUAL: {"image_threshold": 0.0}})

    verdict = upload_screen(image=image_samples.cat(), user=free_user, face_consent=False)

    assert verdict.blocked and verdict.categories == [Category.SEXUAL]
    assert Strike.objects.filter(user=free_user).count() == 1


def test_a_safe_image_is_delivered_and_its_record_identifies_the_input(free_user):
    verdict = output_screen(
        image=image_samples.cat(), user=free_user, generation_id=uuid.uuid4(), image_id=uuid.uuid4()
    )
    decision = Decision.objects.get(pk=verdict.decision_id)
    assert decision.outcome == Outcome.ALLOW
    assert decision.scores["nsfw"] < DEFAULT_RULES[Category.SEXUAL]["threshold"]
    assert decision.scores["image"]["width"] == 451
    assert len(decision.scores["image"]["sha256"]) == 64


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_screening_the_same_output_at_once_record_one_decision_and_one_case(
    astronaut_figure, free_user
):
    ids = {"generation_id": uuid.uuid4(), "image_id": uuid.uuid4()}

    def screen():
        return output_screen(image=image_samples.astronaut(), user=free_user, **ids)

    policy_current()  # seeded once here, not raced for by the two threads
    verdicts = run_concurrently([screen, screen])

    assert not any(isinstance(verdict, Exception) for verdict in verdicts), verdicts
    assert verdicts[0] == verdicts[1]
    assert verdicts[0].blocked
    assert Decision.objects.filter(image_id=ids["image_id"]).count() == 1
    assert Case.objects.filter(image_id=ids["image_id"]).count() == 1


def test_reference_faces_are_cached_until_the_registry_changes(
    astronaut_figure, astronaut_embedding
):
    first = figure_references()
    assert figure_references() is first  # nothing changed: no reload
    assert astronaut_figure.pk in first.figure_ids

    other = PublicFigure.objects.create(name="Another Figure")
    FigureFace.objects.create(
        figure=other, embedding=astronaut_embedding, embedding_model=EMBEDDING_MODEL
    )

    reloaded = figure_references()
    assert reloaded is not first
    assert set(reloaded.figure_ids) == set(first.figure_ids) | {other.pk}
