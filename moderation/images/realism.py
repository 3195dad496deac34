"""Is a detected face a photograph of a real person, or a drawing, cartoon or render?

No detector here tells them apart on its own: mediapipe finds a face in a flat-coloured cartoon
with 0.65 confidence. Two signals that differ between photos and drawings are combined:

- texture: a photo has sensor noise, skin pores and soft shading in every patch, so few pixels
  of the face sit in a perfectly flat neighbourhood; a drawing is mostly flat fills with lines.
  Measured on the face box scaled to 96x96: the flat share is 0.00-0.09 for the package photos
  (also blurred, JPEG 20, greyscale), 0.12-0.23 for a posterised or mode-filtered photo, and
  0.73-0.76 for a drawn cartoon face (also as a JPEG).
- a second detector: OpenCV's Haar cascade, trained on photographs, finds the frontal photos and
  rarely the cartoons (it misses side-on real faces too, so it only adds to the score).

score = 0.7 * texture + 0.3 * haar, in 0..1; the policy's `realistic_face_upload` threshold
(0.5) decides. A real face scores 0.6-1.0 even without the Haar vote; a flat drawing scores
0.0-0.3 even with it. The cost of a mistake is asymmetric on purpose: a drawing taken for a
photo only asks the uploader for the consent statement; a photo taken for a drawing would skip it.
"""

import os
import threading
from dataclasses import dataclass

import numpy as np

from moderation.images._models import cached_model
from moderation.images.faces import FaceBox

MODEL_VERSION = "realism-v1 (flat-share texture + opencv haar frontalface_default)"

TEXTURE_WEIGHT = 0.7
HAAR_WEIGHT = 0.3
# A pixel is "flat" when its 3x3 neighbourhood varies by less than this (grey levels, std dev).
FLAT_STD = 1.0
# The flat share at which the texture signal reaches zero: well under a cartoon's 0.73.
FLAT_SHARE_OF_A_DRAWING = 0.6


@dataclass(frozen=True)
class RealismSignal:
    score: float
    texture: float
    flat_share: float
    haar_confirmed: bool


_haar_lock = threading.Lock()


def _load_haar():  # type: ignore[no-untyped-def]
    import cv2

    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # opencv-python 5.x ships no cascade files: pin <5
        raise RuntimeError(f"OpenCV Haar cascade not found at {path}")
    return cascade


def flat_share(grey_face: np.ndarray) -> float:
    """Share of pixels whose 3x3 neighbourhood is flat, on the face scaled down to 96x96.

    Never scaled up: interpolating a small face smooths it, and a 26-pixel photo face would
    look as flat as a drawing (measured: flat share 0.17-0.29 upscaled, against 0.05 as is).
    """
    import cv2

    height, width = grey_face.shape[:2]
    if height > 96 or width > 96:
        grey_face = cv2.resize(grey_face, (96, 96), interpolation=cv2.INTER_AREA)
    face = grey_face.astype(np.float32)
    mean = cv2.blur(face, (3, 3))
    variance = np.maximum(cv2.blur(face * face, (3, 3)) - mean * mean, 0)
    return float((np.sqrt(variance) < FLAT_STD).mean())


def haar_confirms(grey: np.ndarray, box: FaceBox) -> bool:
    """Does the Haar cascade find a face around the same place (a margin of 30% around it)?"""
    margin_x, margin_y = int(0.3 * box.width), int(0.3 * box.height)
    top, left = max(0, box.top - margin_y), max(0, box.left - margin_x)
    region = grey[top : box.bottom + margin_y, left : box.right + margin_x]
    cascade = cached_model("haar_frontalface", _load_haar)
    smallest = max(16, min(box.width, box.height) // 2)
    # OpenCV's cascade keeps each call's scales in the object itself: two threads screening at
    # once (the delivery pool's) corrupt each other's and raise, or read out of range.
    with _haar_lock:
        found = cascade.detectMultiScale(
            region, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest)
        )
    return len(found) > 0


def grey_image(array: np.ndarray) -> np.ndarray:
    """The RGB array in grey levels: what both signals look at, made once per image."""
    import cv2

    return cv2.cvtColor(array, cv2.COLOR_RGB2GRAY)


def face_realism(grey: np.ndarray, box: FaceBox) -> RealismSignal:
    """`grey`: the image through `grey_image`."""
    share = flat_share(grey[box.top : box.bottom, box.left : box.right])
    texture = float(np.clip(1 - share / FLAT_SHARE_OF_A_DRAWING, 0, 1))
    haar = haar_confirms(grey, box)
    score = TEXTURE_WEIGHT * texture + HAAR_WEIGHT * float(haar)
    return RealismSignal(
        score=round(score, 4), texture=texture, flat_share=share, haar_confirmed=haar
    )
