"""The image models on photos that ship in packages: faces, identity, realism, NSFW."""

from moderation.images.faces import (
    EMBEDDING_MODEL,
    embedding_distance,
    face_embeddings_from_photo,
)
from tests.moderation import image_samples


def test_a_photo_of_one_person_gives_one_128_number_embedding():
    embeddings = face_embeddings_from_photo(image_samples.astronaut_reference_crop())

    assert len(embeddings) == 1
    assert len(embeddings[0]) == 128
    assert EMBEDDING_MODEL


def test_the_cat_has_no_human_face():
    assert face_embeddings_from_photo(image_samples.cat()) == []


def test_the_same_person_is_close_and_another_person_is_far():
    (reference,) = face_embeddings_from_photo(image_samples.astronaut_reference_crop())
    (edited,) = face_embeddings_from_photo(image_samples.astronaut_edited_copy())
    (other,) = face_embeddings_from_photo(image_samples.grace_hopper())

    assert embedding_distance(reference, edited) < 0.4
    assert embedding_distance(reference, other) > 0.6
