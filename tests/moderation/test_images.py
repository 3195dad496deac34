"""The image models on photos that ship in packages: faces, identity, realism, NSFW."""

import io
import multiprocessing
import subprocess
import sys
import threading

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from moderation.images.analysis import analyze_image, analyze_images, model_versions
from moderation.images.faces import (
    EMBEDDING_MODEL,
    DetectorUnusableAfterFork,
    FaceBox,
    embedding_distance,
    face_embeddings_from_photo,
    faces_detect,
)
from moderation.images.realism import grey_image, haar_confirms
from moderation.selectors.figures import FigureReferences
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


# --- analyze_image, with the reference faces passed in (no database) --------------------------

ASTRONAUT_FIGURE_ID = 7


@pytest.fixture(scope="module")
def astronaut_only() -> FigureReferences:
    (embedding,) = face_embeddings_from_photo(image_samples.astronaut_reference_crop())
    return FigureReferences(
        figure_ids=np.array([ASTRONAUT_FIGURE_ID]), embeddings=np.array([embedding], np.float32)
    )


def test_a_registered_figure_is_matched_from_a_different_edited_crop(astronaut_only):
    analysis = analyze_image(image_samples.astronaut_edited_copy(), references=astronaut_only)

    assert [match.figure_id for match in analysis.figure_matches] == [ASTRONAUT_FIGURE_ID]
    assert analysis.figure_matches[0].distance < 0.4
    assert analysis.realistic_face


def test_another_person_is_not_matched_but_is_a_realistic_face(astronaut_only):
    analysis = analyze_image(image_samples.grace_hopper(), references=astronaut_only)

    assert len(analysis.faces) == 1
    assert analysis.figure_matches == []
    assert analysis.faces[0].nearest_figure[1] > 0.6  # staff can see how far the miss was
    assert analysis.realistic_face


def test_the_cat_has_no_face_no_match_and_a_safe_nsfw_score(astronaut_only):
    analysis = analyze_image(image_samples.cat(), references=astronaut_only)

    assert analysis.faces == []
    assert analysis.figure_matches == []
    assert not analysis.realistic_face
    assert 0.0 <= analysis.nsfw_score < 0.1


@pytest.mark.parametrize("size", [512, 256])
def test_a_drawn_cartoon_face_is_a_face_but_not_a_realistic_one(astronaut_only, size):
    analysis = analyze_image(image_samples.cartoon_face(size), references=astronaut_only)

    # mediapipe alone would call it a face: the realism signal is what tells it apart.
    assert len(analysis.faces) == 1
    assert analysis.faces[0].realism.flat_share > 0.6
    assert not analysis.realistic_face
    assert analysis.figure_matches == []


@pytest.mark.parametrize("size", [96, 128])
def test_a_small_real_face_is_still_realistic(astronaut_only, size):
    # Her face is 20-26 pixels wide here: measured as is, never smoothed by upscaling.
    analysis = analyze_image(
        image_samples.astronaut().resize((size, size)), references=astronaut_only
    )

    assert len(analysis.faces) == 1
    assert analysis.realistic_face


def test_a_cartoon_saved_as_a_low_quality_jpeg_is_still_not_realistic(astronaut_only):
    buffer = io.BytesIO()
    image_samples.cartoon_face().save(buffer, "JPEG", quality=40)
    analysis = analyze_image(Image.open(io.BytesIO(buffer.getvalue())), references=astronaut_only)

    assert analysis.faces and not analysis.realistic_face


def test_the_distance_asked_for_decides_the_match(astronaut_only):
    strict = analyze_image(
        image_samples.astronaut_edited_copy(), references=astronaut_only, figure_max_distance=0.01
    )

    assert strict.figure_matches == []
    assert strict.faces[0].nearest_figure[0] == ASTRONAUT_FIGURE_ID


def test_a_batch_is_analysed_as_each_of_its_images_alone(astronaut_only):
    """One embedding call for every face of the batch and one NSFW run for all its images give
    each image the numbers it gets alone, and no face is credited to another image."""
    images = [
        image_samples.astronaut(),
        image_samples.cat(),  # no face
        image_samples.astronaut_edited_copy(),  # the figure
        image_samples.grace_hopper(),
        image_samples.cartoon_face(),  # a face, not a realistic one
    ]

    batched = analyze_images(images, references=astronaut_only)
    alone = [analyze_image(image, references=astronaut_only) for image in images]

    assert [analysis.faces_found for analysis in batched] == [1, 0, 1, 1, 1]
    for together, apart in zip(batched, alone, strict=True):
        assert together.scores() == apart.scores()
        assert together.nsfw_score == pytest.approx(apart.nsfw_score, abs=1e-6)
        assert together.realistic_face == apart.realistic_face
        for face_together, face_apart in zip(together.faces, apart.faces, strict=True):
            np.testing.assert_allclose(face_together.embedding, face_apart.embedding, atol=1e-5)
    assert [m.figure_id for m in batched[2].figure_matches] == [ASTRONAUT_FIGURE_ID]
    assert analyze_images([], references=astronaut_only) == []


def test_scores_keep_numbers_but_never_the_embeddings(astronaut_only):
    scores = analyze_image(image_samples.astronaut(), references=astronaut_only).scores()

    assert scores["faces"] == 1
    assert scores["figure_matches"][0]["figure_id"] == ASTRONAUT_FIGURE_ID
    assert "embedding" not in str(scores)
    assert set(model_versions()) == {"face_detector", "face_embedding", "realism", "nsfw"}


def test_the_speed_bench_entry_point_reports_both_kinds_of_image():
    from moderation.images.benchmark import image_screening_timings

    timings = image_screening_timings(repeats=1, figures=10)

    assert timings["with_face"]["faces"] == 1
    assert timings["without_face"]["faces"] == 0
    assert set(timings["stages_ms"]) == {"detect", "embed_one_face", "realism_one_face", "nsfw"}


def _faces_in_astronaut() -> int:
    return len(face_embeddings_from_photo(image_samples.astronaut()))


def _detect_in_child() -> str:
    try:
        return str(_faces_in_astronaut())
    except DetectorUnusableAfterFork as error:
        return f"refused: {error}"


def test_a_child_forked_after_the_detector_was_used_refuses_instead_of_hanging():
    """mediapipe hangs forever in a child forked from a process that had created a detector
    (measured); the child must fail at once with a message that says why."""
    assert _faces_in_astronaut() == 1  # this process has created the detector
    with multiprocessing.get_context("fork").Pool(1) as pool:
        answer = pool.apply_async(_detect_in_child).get(timeout=60)

    assert answer.startswith("refused: ")
    assert "Celery parent" in answer


FORKED_WORKER_SCRIPT = """
import multiprocessing, os
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
django.setup()
from moderation.images import image_libraries_import
image_libraries_import()  # what a worker parent may do before forking: imports, no models
from tests.moderation.test_images import _analyze_astronaut_in_child
with multiprocessing.get_context("fork").Pool(1) as pool:
    print("child:", pool.apply_async(_analyze_astronaut_in_child).get(timeout=60))
"""


def _analyze_astronaut_in_child() -> str:
    empty = FigureReferences(
        figure_ids=np.zeros(0, np.int64), embeddings=np.zeros((0, 128), np.float32)
    )
    analysis = analyze_image(image_samples.astronaut(), references=empty)
    safe = analysis.nsfw_score < 0.1
    return f"faces={len(analysis.faces)} realistic={analysis.realistic_face} nsfw<0.1={safe}"


def test_a_worker_child_forked_before_any_screening_loads_its_own_models():
    """The Celery prefork case: the parent imported everything but screened nothing."""
    result = subprocess.run(
        [sys.executable, "-c", FORKED_WORKER_SCRIPT],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "child: faces=1 realistic=True nsfw<0.1=True" in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "I;16"])
def test_any_image_mode_is_analysed(astronaut_only, mode):
    image = image_samples.astronaut_edited_copy()
    image = image.convert("L").convert(mode) if mode == "I;16" else image.convert(mode)

    analysis = analyze_image(image, references=astronaut_only)

    assert [match.figure_id for match in analysis.figure_matches] == [ASTRONAUT_FIGURE_ID]


@pytest.mark.parametrize("size", [(1, 1), (4000, 10)])
def test_degenerate_sizes_have_no_face_and_no_error(astronaut_only, size):
    analysis = analyze_image(Image.new("RGB", size), references=astronaut_only)

    assert analysis.faces == [] and 0.0 <= analysis.nsfw_score <= 1.0


def test_two_threads_checking_faces_of_different_sizes_at_once_get_the_answers_alone():
    """The delivery pool screens two batches at once: OpenCV's Haar cascade, shared by the
    process, raised (or read out of range) when two threads ran it on regions of different
    sizes at the same time."""
    photos = [image_samples.astronaut(), image_samples.grace_hopper()]
    arrays = [np.asarray(photo.convert("RGB")) for photo in photos]
    cases = [(grey_image(array), faces_detect(array)[0]) for array in arrays]
    alone = [haar_confirms(grey, box) for grey, box in cases]
    answers: list[object] = []

    def check(grey: np.ndarray, box: FaceBox) -> None:
        for _ in range(100):
            try:
                answers.append(haar_confirms(grey, box))
            except Exception as error:  # the old code's OpenCV error
                answers.append(error)

    threads = [threading.Thread(target=check, args=case) for case in cases * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [answer for answer in answers if isinstance(answer, Exception)]
    assert not errors, errors[:1]
    assert sorted(map(str, answers)) == sorted(map(str, [a for a in alone for _ in range(200)]))
