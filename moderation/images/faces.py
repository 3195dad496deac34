"""Faces: find them (mediapipe) and describe who they are (dlib's 128-number embedding).

Detection: mediapipe 0.10.21's full-range BlazeFace model, 2-5 ms per image, and the only
detector measured here that finds the small side-on face in skimage's cameraman photo.

Identity: dlib's ResNet face descriptor, aligned with the 5-point landmark model. This is
exactly what `face_recognition.face_encodings(image, boxes, model="small")` computes; it is
called through dlib directly because importing `face_recognition` also loads the 68-point
landmark model (100 MB, trained on data that excludes commercial use) and the CNN detector,
neither of which Easel uses. Two embeddings of the same person are usually closer than 0.4
(Euclidean distance); different people are usually further apart than 0.6.
"""

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
from PIL import Image, ImageOps

from moderation.images._models import cached_model

# Stored beside every reference embedding (FigureFace.embedding_model): embeddings from another
# model are not comparable, so the registry only matches rows with this exact name.
EMBEDDING_MODEL = "dlib-resnet-v1+5pt"

# Larger images are scaled down first: detection sees 192 pixels anyway, and the descriptor
# works on a 150-pixel aligned chip, so more pixels only cost time and memory.
MAX_SIDE = 1600
MIN_CONFIDENCE = 0.5
MIN_FACE_PIXELS = 20
# dlib's aligned face chip: the size and padding its descriptor network was trained on (the
# defaults of `compute_face_descriptor`).
CHIP_SIZE = 150
CHIP_PADDING = 0.25

_detect_lock = threading.Lock()
_embed_lock = threading.Lock()


@dataclass(frozen=True)
class FaceBox:
    """A face found in an image: pixel box (left, top, right, bottom) and detector confidence."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.right, self.bottom]


def image_to_array(image: Image.Image) -> np.ndarray:
    """RGB uint8 array, upright (EXIF orientation applied) and no larger than MAX_SIDE."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


class DetectorUnusableAfterFork(RuntimeError):
    pass


# Set in a child forked from a process that had created a mediapipe detector. Measured: such a
# child hangs forever in its own (new) detector's first call, so it must fail loudly instead.
# Importing mediapipe before the fork is harmless; creating a detector is not. Celery's prefork
# parent and a preloading gunicorn master must therefore never screen an image themselves.
_forked_after_detector = False
_fork_hook_registered = False


def _mark_forked_child() -> None:
    global _forked_after_detector
    _forked_after_detector = True


def _load_detector():  # type: ignore[no-untyped-def]
    global _fork_hook_registered
    # mediapipe logs through glog to stderr on every load; keep worker logs readable.
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp

    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_mark_forked_child)
        _fork_hook_registered = True
    # model_selection=1: the full-range model (faces up to ~5 m away), not the selfie model.
    return mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=MIN_CONFIDENCE
    )


def _load_embedder():  # type: ignore[no-untyped-def]
    import dlib
    import face_recognition_models

    shape_predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    encoder = dlib.face_recognition_model_v1(
        face_recognition_models.face_recognition_model_location()
    )
    return shape_predictor, encoder


def faces_detect(array: np.ndarray) -> list[FaceBox]:
    """Every face mediapipe finds with at least MIN_CONFIDENCE, largest first."""
    if _forked_after_detector:
        raise DetectorUnusableAfterFork(
            "This process was forked from one that had already used the face detector, and "
            "mediapipe cannot run after such a fork. Screen images only in worker processes "
            "that load the models themselves (never in the Celery parent or a preloading "
            "gunicorn master)."
        )
    detector = cached_model("face_detector", _load_detector)
    with _detect_lock:  # a mediapipe graph is not safe to call from two threads at once
        result = detector.process(array)
    height, width = array.shape[:2]
    boxes = []
    for detection in result.detections or []:
        relative = detection.location_data.relative_bounding_box
        left = max(0, int(round(relative.xmin * width)))
        top = max(0, int(round(relative.ymin * height)))
        right = min(width, int(round((relative.xmin + relative.width) * width)))
        bottom = min(height, int(round((relative.ymin + relative.height) * height)))
        if min(right - left, bottom - top) < MIN_FACE_PIXELS:
            continue  # too small to say anything about who it is
        boxes.append(FaceBox(left, top, right, bottom, float(detection.score[0])))
    return sorted(boxes, key=lambda box: box.width * box.height, reverse=True)


def face_embedder_load() -> None:
    """Loads the identity embedder now (it otherwise loads with the first face)."""
    cached_model("face_embedder", _load_embedder)


def face_embedding(array: np.ndarray, box: FaceBox) -> list[float]:
    """The 128-number identity embedding of the face in `box`."""
    (embedding,) = face_embeddings([(array, box)])
    return embedding


def face_embeddings(faces: Sequence[tuple[np.ndarray, FaceBox]]) -> list[list[float]]:
    """The embeddings of many faces, of one image or of several, in one network call: each
    face is aligned to dlib's 150-pixel chip (as `compute_face_descriptor(image, landmarks)`
    does inside), and the chips go through the ResNet as one batch."""
    if not faces:
        return []
    import dlib

    shape_predictor, encoder = cached_model("face_embedder", _load_embedder)
    with _embed_lock:
        chips = [
            dlib.get_face_chip(
                array, shape_predictor(array, _rectangle(box)), size=CHIP_SIZE, padding=CHIP_PADDING
            )
            for array, box in faces
        ]
        descriptors = encoder.compute_face_descriptor(chips, 1)
    return [[float(value) for value in descriptor] for descriptor in descriptors]


def _rectangle(box: FaceBox):  # type: ignore[no-untyped-def]
    import dlib

    return dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)


def face_embeddings_from_photo(image: Image.Image) -> list[list[float]]:
    """One embedding per face in a photo, largest face first (empty when there is none).

    The registry stores these for a public figure's reference photo and refuses a photo
    without exactly one face; store them with `embedding_model=EMBEDDING_MODEL`.
    """
    array = image_to_array(image)
    return face_embeddings([(array, box) for box in faces_detect(array)])


def embedding_distance(first: list[float] | np.ndarray, second: list[float] | np.ndarray) -> float:
    """Euclidean distance between two embeddings: lower is more alike."""
    return float(np.linalg.norm(np.asarray(first) - np.asarray(second)))


def model_versions() -> dict[str, str]:
    return {
        "face_detector": f"mediapipe {version('mediapipe')} face_detection full-range",
        "face_embedding": f"{EMBEDDING_MODEL} (dlib {version('dlib-bin')})",
    }
