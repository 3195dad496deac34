"""Likeness protection by enrolment: services, image screening against enrolled faces, the API
and the staff review, with the real face models on the package photos.

Who is who: skimage's astronaut (Eileen Collins) plays a customer who enrols her own face;
matplotlib's Grace Hopper is somebody else.
"""

import io
import uuid

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from moderation.images.faces import EMBEDDING_MODEL, face_embeddings_from_photo
from moderation.models import (
    AuditLogEntry,
    Case,
    Category,
    Decision,
    EnrolledFace,
    FigureFace,
    LikenessEnrolment,
    Outcome,
    PublicFigure,
)
from moderation.selectors.figures import figure_references_invalidate
from moderation.services.figures import ReferencePhoto
from moderation.services.image_screening import output_screen, upload_screen
from moderation.services.likeness import (
    likeness_enrol,
    likeness_enrol_public_figure,
    likeness_review,
    likeness_withdraw,
)
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation import image_samples
from tests.moderation.process_helpers import make_staff

pytestmark = pytest.mark.django_db


def new_user() -> User:
    user = UserFactory()
    assert isinstance(user, User)
    return user


def decision_of(verdict) -> Decision:  # type: ignore[no-untyped-def]
    return Decision.objects.get(pk=verdict.decision_id)


def photo(image: Image.Image, name: str) -> ReferencePhoto:
    return ReferencePhoto(image=image, source_name=name)


def astronaut_photos() -> list[ReferencePhoto]:
    return [
        photo(image_samples.astronaut_reference_crop(), "me-1.png"),
        photo(image_samples.astronaut().crop((40, 10, 420, 390)), "me-2.png"),
    ]


def png(image: Image.Image, name: str) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


@pytest.fixture(autouse=True)
def _fresh_reference_cache():  # type: ignore[no-untyped-def]
    figure_references_invalidate()
    yield
    figure_references_invalidate()


@pytest.fixture
def owner():  # type: ignore[no-untyped-def]
    return new_user()


@pytest.fixture
def enrolment(owner) -> LikenessEnrolment:  # type: ignore[no-untyped-def]
    return likeness_enrol(user=owner, photos=astronaut_photos(), consent=True)


# -- enrolling ------------------------------------------------------------------------------


def test_enrolling_stores_embeddings_and_the_consent_and_is_audited(owner) -> None:  # type: ignore[no-untyped-def]
    enrolment = likeness_enrol(user=owner, photos=astronaut_photos(), consent=True)
    assert enrolment.state == LikenessEnrolment.State.ACTIVE
    assert enrolment.consent_at is not None and "I am the person" in enrolment.consent_text
    faces = list(enrolment.faces.all())
    assert len(faces) == 2 and all(len(face.embedding) == 128 for face in faces)
    assert {face.embedding_model for face in faces} == {EMBEDDING_MODEL}
    entry = AuditLogEntry.objects.get(action="likeness.enrol")
    assert entry.actor == owner and entry.target_id == str(enrolment.pk)
    assert not enrolment.needs_review  # nobody registered looks like her


@pytest.mark.parametrize(
    ("photos", "consent", "message"),
    [
        (lambda: astronaut_photos(), False, "consent"),
        (lambda: [], True, "Send between 1 and 5 photos"),
        (lambda: [photo(image_samples.cat(), "cat.png")], True, "cat.png: found no face"),
        (
            lambda: [
                photo(image_samples.astronaut_reference_crop(), "me.png"),
                photo(image_samples.grace_hopper(), "someone-else.png"),
            ],
            True,
            "not all show the same person",
        ),
    ],
)
def test_a_bad_enrolment_is_refused_and_writes_nothing(owner, photos, consent, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest, match=message):
        likeness_enrol(user=owner, photos=photos(), consent=consent)
    assert not LikenessEnrolment.objects.exists()
    assert not EnrolledFace.objects.exists()
    assert not AuditLogEntry.objects.filter(action__startswith="likeness").exists()


@pytest.mark.django_db(transaction=True)
def test_two_enrolments_at_once_make_one_active_enrolment() -> None:
    owner = new_user()  # committed: the racing threads use their own connections
    results = run_concurrently(
        [
            lambda: likeness_enrol(user=owner, photos=[astronaut_photos()[0]], consent=True),
            lambda: likeness_enrol(user=owner, photos=[astronaut_photos()[1]], consent=True),
        ]
    )
    assert all(isinstance(result, LikenessEnrolment) for result in results), results
    active = LikenessEnrolment.objects.filter(user=owner, state="active")
    assert active.count() == 1
    assert active.get().faces.count() == 2


def test_an_enrolment_that_looks_like_a_registered_figure_goes_to_staff(owner) -> None:  # type: ignore[no-untyped-def]
    figure = PublicFigure.objects.create(name="Someone Registered Collins")
    (embedding,) = face_embeddings_from_photo(image_samples.astronaut_reference_crop())
    FigureFace.objects.create(figure=figure, embedding=embedding, embedding_model=EMBEDDING_MODEL)
    enrolment = likeness_enrol(user=owner, photos=astronaut_photos(), consent=True)
    assert enrolment.needs_review and "public figure" in enrolment.review_reason
    case = Case.objects.get(source=Case.Source.ENROLMENT_REVIEW)
    assert case.subject_user == owner and case.category == Category.PUBLIC_FIGURE

    staff = make_staff()
    with pytest.raises(InvalidRequest, match="reason"):
        likeness_review(actor=staff, enrolment_id=enrolment.pk, keep=False, reason="")
    removed = likeness_review(
        actor=staff, enrolment_id=enrolment.pk, keep=False, reason="Not the account holder."
    )
    assert removed.state == LikenessEnrolment.State.REMOVED
    assert not EnrolledFace.objects.filter(enrolment=enrolment).exists()
    assert AuditLogEntry.objects.get(action="likeness.remove").reason == "Not the account holder."


def test_withdrawing_deletes_the_embeddings_and_is_idempotent(owner, enrolment) -> None:  # type: ignore[no-untyped-def]
    withdrawn = likeness_withdraw(user=owner, enrolment_id=enrolment.pk)
    assert withdrawn.state == LikenessEnrolment.State.WITHDRAWN and withdrawn.ended_at
    assert not EnrolledFace.objects.exists()
    likeness_withdraw(user=owner, enrolment_id=enrolment.pk)
    assert AuditLogEntry.objects.filter(action="likeness.withdraw").count() == 1
    with pytest.raises(NotFound):
        likeness_withdraw(user=new_user(), enrolment_id=enrolment.pk)  # not theirs


# -- screening against enrolled faces -------------------------------------------------------


def test_someone_elses_output_matching_an_enrolled_face_is_withheld_and_audited(
    enrolment,
) -> None:  # type: ignore[no-untyped-def]
    stranger = new_user()
    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=stranger,
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )
    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories == [Category.PUBLIC_FIGURE]
    decision = decision_of(verdict)
    assert decision.scores["enrolment_matches"][0]["enrolment_id"] == enrolment.pk
    match = AuditLogEntry.objects.get(action="likeness.match")
    assert match.target_id == str(enrolment.pk)
    assert match.details["decision_id"] == decision.pk


def test_the_enrolled_person_is_not_blocked_by_their_own_enrolment(owner, enrolment) -> None:  # type: ignore[no-untyped-def]
    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=owner,
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )
    assert Category.PUBLIC_FIGURE not in verdict.categories
    assert not AuditLogEntry.objects.filter(action="likeness.match").exists()


def test_uploads_of_an_enrolled_face_are_refused_even_with_consent(enrolment) -> None:  # type: ignore[no-untyped-def]
    stranger = new_user()
    verdict = upload_screen(
        image=image_samples.astronaut_edited_copy(), user=stranger, face_consent=True
    )
    assert verdict.blocked and verdict.categories[0] == Category.PUBLIC_FIGURE
    # Another person's face is not affected by her enrolment.
    other = upload_screen(image=image_samples.grace_hopper(), user=stranger, face_consent=True)
    assert Category.PUBLIC_FIGURE not in other.categories


def test_a_withdrawn_enrolment_stops_matching_at_once(owner, enrolment) -> None:  # type: ignore[no-untyped-def]
    likeness_withdraw(user=owner, enrolment_id=enrolment.pk)
    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=new_user(),
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )
    assert Category.PUBLIC_FIGURE not in verdict.categories


def test_staff_enrol_a_public_figure_with_the_photos_source() -> None:
    figure = PublicFigure.objects.create(name="Eileen Collins Test Figure")
    staff = make_staff()
    with pytest.raises(InvalidRequest, match="where the photos come from"):
        likeness_enrol_public_figure(
            actor=staff, figure_id=figure.pk, photos=astronaut_photos(), source=" "
        )
    enrolment = likeness_enrol_public_figure(
        actor=staff,
        figure_id=figure.pk,
        photos=astronaut_photos(),
        source="NASA image library, public domain",
    )
    assert {face.source for face in enrolment.faces.all()} == {
        "NASA image library, public domain (me-1.png)",
        "NASA image library, public domain (me-2.png)",
    }
    verdict = output_screen(
        image=image_samples.astronaut_edited_copy(),
        user=new_user(),
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )
    assert verdict.blocked
    assert decision_of(verdict).matched_figure == figure


# -- the API --------------------------------------------------------------------------------


def test_the_api_enrols_lists_and_withdraws(owner) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_login(owner)
    refused = client.post(
        "/api/v1/likeness/enrolments",
        {"photos": [png(image_samples.astronaut_reference_crop(), "me.png")]},
        format="multipart",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "consent"
    assert not LikenessEnrolment.objects.exists()

    created = client.post(
        "/api/v1/likeness/enrolments",
        {"photos": [png(image_samples.astronaut_reference_crop(), "me.png")], "consent": "true"},
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "active" and body["photos"] == 1

    listed = client.get("/api/v1/likeness/enrolments").json()["data"]
    assert [item["id"] for item in listed] == [body["id"]]

    withdrawn = client.delete(f"/api/v1/likeness/enrolments/{body['id']}")
    assert withdrawn.status_code == 200 and withdrawn.json()["photos"] == 0
    assert not EnrolledFace.objects.exists()


def test_the_api_refuses_a_file_that_is_not_an_image(owner) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_login(owner)
    junk = io.BytesIO(b"not an image")
    junk.name = "notes.txt"
    response = client.post(
        "/api/v1/likeness/enrolments", {"photos": [junk], "consent": "true"}, format="multipart"
    )
    assert response.status_code == 400
    assert "notes.txt" in response.json()["error"]["message"]
    assert not LikenessEnrolment.objects.exists()


def test_staff_review_enrolments_over_the_api(owner) -> None:  # type: ignore[no-untyped-def]
    figure = PublicFigure.objects.create(name="Registered Lookalike")
    (embedding,) = face_embeddings_from_photo(image_samples.astronaut_reference_crop())
    FigureFace.objects.create(figure=figure, embedding=embedding, embedding_model=EMBEDDING_MODEL)
    enrolment = likeness_enrol(user=owner, photos=astronaut_photos(), consent=True)

    customer = APIClient()
    customer.force_login(owner)
    assert customer.get("/api/v1/staff/likeness/enrolments").status_code == 403

    staff = APIClient()
    staff.force_login(make_staff())
    queue = staff.get("/api/v1/staff/likeness/enrolments").json()["data"]
    assert [item["id"] for item in queue] == [enrolment.pk]
    kept = staff.post(
        f"/api/v1/staff/likeness/enrolments/{enrolment.pk}/review",
        {"keep": True, "reason": "Checked her ID: it is her own face."},
        format="json",
    )
    assert kept.status_code == 200 and kept.json()["state"] == "active"
    assert staff.get("/api/v1/staff/likeness/enrolments").json()["data"] == []
    assert AuditLogEntry.objects.filter(action="likeness.review_keep").exists()


def test_staff_enrol_a_figure_over_the_api() -> None:
    figure = PublicFigure.objects.create(name="API Figure")
    staff = APIClient()
    staff.force_login(make_staff())
    response = staff.post(
        f"/api/v1/staff/figures/{figure.pk}/likeness",
        {
            "photos": [png(image_samples.astronaut_reference_crop(), "press.png")],
            "photo_source": "https://images.example.org/press.png",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["figure_id"] == figure.pk
    assert EnrolledFace.objects.get().source == "https://images.example.org/press.png (press.png)"
