"""Everything the image models say about an image, in one pass: the input of both screens.

Faces (mediapipe) -> per face an identity embedding (dlib), its nearest registered public
figures and enrolled likenesses (people who protected their own face, and figures enrolled by
staff), and a photo-realism score; plus one NSFW score for the whole image. Deciding what to do
with these numbers is the policy's job (`moderation.services.image_screening`), not this one's.
"""

import functools
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from moderation.images import faces as face_models
from moderation.images import nsfw as nsfw_model
from moderation.images import realism as realism_model
from moderation.images._models import cached_model
from moderation.images.faces import FaceBox
from moderation.images.realism import RealismSignal
from moderation.selectors.enrolments import EMPTY as NO_ENROLMENTS
from moderation.selectors.enrolments import EnrolledReferences, enrolled_references
from moderation.selectors.figures import FigureReferences, figure_references

# Embedding a face costs ~100 ms on one CPU thread; a crowd is screened by its largest faces
# (per image: a batch of crowds embeds up to MAX_FACES of each).
MAX_FACES = 12
# Distances from the astronaut photo: her edited copies 0.10-0.39, Grace Hopper 0.69, a
# cartoon 0.62, the cameraman 0.86. The policy's public-figure threshold is a likeness
# (1 - distance), so its default 0.5 means "closer than 0.5".
DEFAULT_FIGURE_MAX_DISTANCE = 0.5
DEFAULT_REALISM_THRESHOLD = 0.5


@dataclass(frozen=True)
class FigureMatch:
    figure_id: int
    distance: float
    face_index: int

    @property
    def likeness(self) -> float:
        """1 - distance: a score where higher means more alike, like every other policy score."""
        return round(1.0 - self.distance, 4)


@dataclass(frozen=True)
class EnrolmentMatch:
    """A face within the likeness threshold of an enrolled face. `owner_id` is the person it
    protects (their own images are not withheld for it); None for a staff-enrolled figure."""

    enrolment_id: int
    owner_id: int | None
    figure_id: int | None
    distance: float
    face_index: int

    @property
    def likeness(self) -> float:
        return round(1.0 - self.distance, 4)


@dataclass(frozen=True)
class AnalyzedFace:
    box: FaceBox
    embedding: list[float]
    realism: RealismSignal
    # The closest registered figure, matched or not: staff see how near a miss was.
    nearest_figure: tuple[int, float] | None


@dataclass(frozen=True)
class ImageAnalysis:
    faces: list[AnalyzedFace]
    figure_matches: list[FigureMatch]  # within the distance asked for, nearest first
    nsfw_score: float
    realism_score: float  # the most photo-like face; 0 without a face
    realistic_face: bool
    model_versions: dict[str, str]
    seconds: float = 0.0
    faces_found: int = 0  # before MAX_FACES
    enrolment_matches: list[EnrolmentMatch] = field(default_factory=list)  # nearest first

    def enrolment_matches_against(self, user_id: int | None) -> list[EnrolmentMatch]:
        """The enrolments this image matches that protect someone other than `user_id`."""
        return [match for match in self.enrolment_matches if match.owner_id != user_id]

    def scores(self) -> dict:
        """The numbers a Decision stores (never the embeddings: they identify a person)."""
        return {
            "nsfw": round(self.nsfw_score, 4),
            "faces": self.faces_found,
            "realism": round(self.realism_score, 4),
            "face_boxes": [face.box.as_list() for face in self.faces],
            "face_realism": [face.realism.score for face in self.faces],
            "nearest_figure_distance": min(
                (round(face.nearest_figure[1], 4) for face in self.faces if face.nearest_figure),
                default=None,
            ),
            "figure_matches": [
                {"figure_id": match.figure_id, "distance": round(match.distance, 4)}
                for match in self.figure_matches
            ],
            "enrolment_matches": [
                {"enrolment_id": match.enrolment_id, "distance": round(match.distance, 4)}
                for match in self.enrolment_matches
            ],
        }


_models_loaded = threading.Event()


def image_models_load() -> None:
    """Loads the face detector, the identity embedder and the NSFW classifier into this process
    (each once; see _models.py), by screening a blank image: the first real one then waits for
    nothing. Never in a process that forks afterwards (faces.py says why)."""
    nobody = FigureReferences(
        figure_ids=np.zeros(0, dtype=np.int64), embeddings=np.zeros((0, 128), dtype=np.float32)
    )
    analyze_image(Image.new("RGB", (64, 64)), references=nobody, enrolled=NO_ENROLMENTS)
    face_models.face_embedder_load()
    _models_loaded.set()


def image_models_loaded() -> bool:
    """Cheap (a flag): whether image_models_load has finished in this process."""
    return _models_loaded.is_set()


@functools.cache  # metadata reads (~0.5 ms a batch); a process keeps the packages it loaded
def model_versions() -> dict[str, str]:
    return {
        **face_models.model_versions(),
        "realism": realism_model.MODEL_VERSION,
        **nsfw_model.model_versions(),
    }


def analyze_image(
    image: Image.Image,
    *,
    figure_max_distance: float = DEFAULT_FIGURE_MAX_DISTANCE,
    realism_threshold: float = DEFAULT_REALISM_THRESHOLD,
    references: FigureReferences | None = None,
    enrolled: EnrolledReferences | None = None,
) -> ImageAnalysis:
    """Analyse one image: the batch of one (`analyze_images` says what the arguments mean)."""
    (analysis,) = analyze_images(
        [image],
        figure_max_distance=figure_max_distance,
        realism_threshold=realism_threshold,
        references=references,
        enrolled=enrolled,
    )
    return analysis


def analyze_images(
    images: Sequence[Image.Image],
    *,
    figure_max_distance: float = DEFAULT_FIGURE_MAX_DISTANCE,
    realism_threshold: float = DEFAULT_REALISM_THRESHOLD,
    references: FigureReferences | None = None,
    enrolled: EnrolledReferences | None = None,
    nsfw_scoring: "Future[list[float]] | None" = None,
) -> list[ImageAnalysis]:
    """Analyse a batch of images, one analysis each, in order. Faces are detected image by
    image (mediapipe takes one at a time); every face of the batch is then embedded in one
    network call and every image scored for NSFW in one classifier run, which costs less per
    image than one call each. Each analysis's `seconds` is its share of the batch's time.

    The NSFW classifier runs on a helper thread (`_beside`) while this one reads the registry
    and runs the face models: onnxruntime, mediapipe's graph and the database wait release the
    GIL, so on two free cores the batch takes about the longer of the two, not their sum.

    `references` defaults to the registry's active figures and `enrolled` to the active
    likeness enrolments (database reads, cached per process). Pass your own `references` to
    analyse without the database: `enrolled` then defaults to none. `nsfw_scoring` is the
    classifier already started on these images (`nsfw_scoring_start`), by a caller that had
    other work to do before it could call this."""
    started = time.perf_counter()
    if nsfw_scoring is None:
        nsfw_scoring = nsfw_scoring_start(images)
    if enrolled is None:
        enrolled = enrolled_references() if references is None else NO_ENROLMENTS
    if references is None:
        references = figure_references()
    arrays = [face_models.image_to_array(image) for image in images]
    found = [face_models.faces_detect(array) for array in arrays]
    kept = [(position, box) for position, boxes in enumerate(found) for box in boxes[:MAX_FACES]]
    embeddings = face_models.face_embeddings([(arrays[position], box) for position, box in kept])
    greys = {position: realism_model.grey_image(arrays[position]) for position, _ in kept}
    faces: list[list[AnalyzedFace]] = [[] for _ in images]
    for (position, box), embedding in zip(kept, embeddings, strict=True):
        faces[position].append(
            AnalyzedFace(
                box=box,
                embedding=embedding,
                realism=realism_model.face_realism(greys[position], box),
                nearest_figure=references.nearest(embedding),
            )
        )
    nsfw_scores = nsfw_scoring.result()
    versions = model_versions()
    share = (time.perf_counter() - started) / max(1, len(images))
    return [
        _analysis(
            faces=faces[position],
            faces_found=len(found[position]),
            nsfw_score=nsfw_score,
            references=references,
            enrolled=enrolled,
            figure_max_distance=figure_max_distance,
            realism_threshold=realism_threshold,
            versions=versions,
            seconds=share,
        )
        for position, nsfw_score in enumerate(nsfw_scores)
    ]


def nsfw_scoring_start(images: Sequence[Image.Image]) -> "Future[list[float]]":
    """The NSFW classifier started on `images` on its helper thread (`_beside`): it needs no
    policy, registry or database, so it can start before anything else of the screening."""
    return _beside().submit(nsfw_model.nsfw_scores, images)


def _beside() -> ThreadPoolExecutor:
    """This process's helper threads for the NSFW classifier (one per core: as many screenings
    as the cores can run at once), made on first use and per process (`cached_model`: threads
    do not survive a fork)."""
    return cached_model(
        "nsfw_threads",
        lambda: ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="nsfw"),
    )


def _analysis(
    *,
    faces: list[AnalyzedFace],
    faces_found: int,
    nsfw_score: float,
    references: FigureReferences,
    enrolled: EnrolledReferences,
    figure_max_distance: float,
    realism_threshold: float,
    versions: dict[str, str],
    seconds: float,
) -> ImageAnalysis:
    """One image's analysis from its faces (largest first) and its NSFW score."""
    matches: list[FigureMatch] = []
    enrolment_matches: list[EnrolmentMatch] = []
    for index, face in enumerate(faces):
        matches.extend(figure_matches_for(face.embedding, references, figure_max_distance, index))
        enrolment_matches.extend(
            enrolment_matches_for(face.embedding, enrolled, figure_max_distance, index)
        )
    realism_score = max((face.realism.score for face in faces), default=0.0)
    return ImageAnalysis(
        faces=faces,
        figure_matches=_nearest_per_figure(matches),
        nsfw_score=nsfw_score,
        realism_score=realism_score,
        realistic_face=bool(faces) and realism_score >= realism_threshold,
        model_versions=versions,
        seconds=seconds,
        faces_found=faces_found,
        enrolment_matches=_nearest_per_enrolment(enrolment_matches),
    )


def figure_matches_for(
    embedding: list[float], references: FigureReferences, max_distance: float, face_index: int
) -> list[FigureMatch]:
    """The registered figures one face is within `max_distance` of."""
    return [
        FigureMatch(figure_id=figure_id, distance=distance, face_index=face_index)
        for figure_id, distance in references.nearest_per_figure(
            embedding, max_distance=max_distance
        )
    ]


def enrolment_matches_for(
    embedding: list[float], enrolled: EnrolledReferences, max_distance: float, face_index: int
) -> list[EnrolmentMatch]:
    """The likeness enrolments one face is within `max_distance` of (the same likeness
    threshold as public figures: one rule, two kinds of reference face)."""
    return [
        EnrolmentMatch(
            enrolment_id=enrolment_id,
            owner_id=enrolled.owners.get(enrolment_id),
            figure_id=enrolled.figures.get(enrolment_id),
            distance=distance,
            face_index=face_index,
        )
        for enrolment_id, distance in enrolled.faces.nearest_per_figure(
            embedding, max_distance=max_distance
        )
    ]


def _nearest_per_enrolment(matches: list[EnrolmentMatch]) -> list[EnrolmentMatch]:
    best: dict[int, EnrolmentMatch] = {}
    for match in matches:
        if match.enrolment_id not in best or match.distance < best[match.enrolment_id].distance:
            best[match.enrolment_id] = match
    return sorted(best.values(), key=lambda match: match.distance)


def _nearest_per_figure(matches: list[FigureMatch]) -> list[FigureMatch]:
    """One match per figure (its closest face), nearest first."""
    best: dict[int, FigureMatch] = {}
    for match in matches:
        if match.figure_id not in best or match.distance < best[match.figure_id].distance:
            best[match.figure_id] = match
    return sorted(best.values(), key=lambda match: match.distance)
