"""Shared helpers for the people-and-process tests (cases, strikes, appeals, staff APIs)."""

import uuid

from accounts.models import User
from moderation.models import Decision, Outcome
from moderation.policy import policy_current
from moderation.services.decisions import decision_record
from tests.factories import GenerationFactory, ImageFactory, UserFactory, staff_with_two_factor


def make_decision(
    *,
    user: User | None,
    stage: str = Decision.Stage.PROMPT,
    outcome: str = Outcome.BLOCK,
    categories: list[str] | None = None,
    end_user: str = "",
    generation_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
) -> Decision:
    return decision_record(
        stage=stage,
        outcome=outcome,
        policy=policy_current(),
        categories=categories if categories is not None else ["violence"],
        scores={"violence": 0.9},
        model_versions={"lexicon": "test"},
        user=user,
        end_user=end_user,
        prompt="a prompt" if stage == Decision.Stage.PROMPT else "",
        generation_id=generation_id,
        image_id=image_id,
    )


def make_staff(*, two_factor: bool = True, **fields: object) -> User:
    if two_factor:
        return staff_with_two_factor(**fields)
    return UserFactory.create(is_staff=True, **fields)


def make_image(  # type: ignore[no-untyped-def]
    *,
    user: User,
    status: str = "delivered",
    shared: bool = False,
    generation_id: uuid.UUID | None = None,
):
    """A generation with one image, written directly: these tests need rows, not a pipeline."""
    from generation.models import Generation, Share
    from generation.services.storage import image_key, storage_write

    generation = GenerationFactory.create(
        id=generation_id or uuid.uuid4(),
        user=user,
        source=Generation.Source.WEB,
        status=Generation.Status.SUCCEEDED,
    )
    image = ImageFactory.create(generation=generation, status=status, storage_key="")
    if status == "delivered":
        image.storage_key = storage_write(
            key=image_key(generation_id=generation.id, index=0), content=b"\x89PNG test image"
        )
        image.save(update_fields=["storage_key"])
    if shared:
        Share.objects.create(image=image, slug=uuid.uuid4().hex[:12])
    return image
