"""How well the identity embedding (dlib ResNet + 5-point alignment) recognises a face after
the edits a user or a model makes, and how often it takes a stranger for someone enrolled.

    .venv/bin/python bench/moderation_faces.py

Photos that ship in packages: skimage's astronaut (Eileen Collins) and matplotlib's Grace
Hopper are the enrolled people (their reference embedding is computed from the photo as it
is); skimage's cameraman and the 100 face crops of skimage's `lfw_subset` (25x25 greyscale,
Labeled Faces in the Wild) are the strangers. Each enrolled photo is transformed (resized,
JPEG, mirrored, rotated, partly covered, blurred) and screened the production way: the
mediapipe detector finds the face in the transformed image, dlib embeds it, and it matches
when its distance to the reference is within the policy's default (0.5, likeness 0.5).

Printed: per transform, whether the face was found and its distance to its own reference
(match) and to the other person's (false match); then the false-match rate of the strangers
against both references and among themselves (the lfw crops are too small for the detector:
they are embedded whole, upscaled). No database, no network.
"""

import io
import itertools
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageOps  # noqa: E402

from moderation.images import faces  # noqa: E402
from moderation.images.analysis import DEFAULT_FIGURE_MAX_DISTANCE  # noqa: E402
from tests.moderation import image_samples  # noqa: E402

THRESHOLD = DEFAULT_FIGURE_MAX_DISTANCE


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def cover(image: Image.Image, box: faces.FaceBox, *, part: str) -> Image.Image:
    """A grey band over the eyes (sunglasses) or the lower half of the face (a mask)."""
    covered = image.copy()
    draw = ImageDraw.Draw(covered)
    height = box.bottom - box.top
    if part == "eyes":
        top, bottom = box.top + int(0.25 * height), box.top + int(0.45 * height)
    else:
        top, bottom = box.top + int(0.55 * height), box.bottom
    draw.rectangle((box.left, top, box.right, bottom), fill=(90, 90, 90))
    return covered


def transforms(image: Image.Image, box: faces.FaceBox) -> dict[str, Callable[[], Image.Image]]:
    width, height = image.size
    return {
        "as is": lambda: image,
        "resized to 50%": lambda: image.resize((width // 2, height // 2), Image.Resampling.LANCZOS),
        "resized to 25%": lambda: image.resize((width // 4, height // 4), Image.Resampling.LANCZOS),
        "JPEG quality 30": lambda: jpeg(image, 30),
        "JPEG quality 10": lambda: jpeg(image, 10),
        "mirrored": lambda: ImageOps.mirror(image),
        "rotated 10 degrees": lambda: image.rotate(10, resample=Image.Resampling.BICUBIC),
        "rotated -15 degrees": lambda: image.rotate(-15, resample=Image.Resampling.BICUBIC),
        "eyes covered": lambda: cover(image, box, part="eyes"),
        "lower face covered": lambda: cover(image, box, part="lower"),
        "blurred (radius 3)": lambda: image.filter(ImageFilter.GaussianBlur(3)),
        "greyscale": lambda: ImageOps.grayscale(image).convert("RGB"),
    }


def largest_face_embedding(image: Image.Image) -> list[float] | None:
    array = faces.image_to_array(image)
    boxes = faces.faces_detect(array)
    return faces.face_embedding(array, boxes[0]) if boxes else None


def whole_crop_embedding(crop: np.ndarray) -> list[float]:
    """A small face crop embedded as one face box over the whole (upscaled) image."""
    image = Image.fromarray((crop * 255).astype(np.uint8)).convert("RGB")
    image = image.resize((150, 150), Image.Resampling.BICUBIC)
    array = np.ascontiguousarray(np.asarray(image))
    box = faces.FaceBox(0, 0, array.shape[1], array.shape[0], 1.0)
    return faces.face_embedding(array, box)


def main() -> None:
    from skimage import data

    people = {"astronaut": image_samples.astronaut(), "grace hopper": image_samples.grace_hopper()}
    references: dict[str, list[float]] = {}
    boxes: dict[str, faces.FaceBox] = {}
    for name, image in people.items():
        array = faces.image_to_array(image)
        boxes[name] = faces.faces_detect(array)[0]
        references[name] = faces.face_embedding(array, boxes[name])

    print(f"identity embedding: {faces.EMBEDDING_MODEL}; match when distance <= {THRESHOLD}")
    print(f"{'person':<13} {'transform':<22} {'found':>5} {'own':>6} {'other':>6}  result")
    genuine: list[float] = []
    impostor: list[float] = []
    found = matched = total = false_matches = 0
    for name, image in people.items():
        other = next(person for person in people if person != name)
        for label, make in transforms(image, boxes[name]).items():
            total += 1
            embedding = largest_face_embedding(make())
            if embedding is None:
                print(f"{name:<13} {label:<22} {'no':>5} {'-':>6} {'-':>6}  face not found")
                continue
            found += 1
            own = faces.embedding_distance(embedding, references[name])
            theirs = faces.embedding_distance(embedding, references[other])
            genuine.append(own)
            impostor.append(theirs)
            matched += own <= THRESHOLD
            false_matches += theirs <= THRESHOLD
            result = "match" if own <= THRESHOLD else "MISSED"
            if theirs <= THRESHOLD:
                result += ", FALSE MATCH"
            print(f"{name:<13} {label:<22} {'yes':>5} {own:>6.3f} {theirs:>6.3f}  {result}")

    print(
        f"\ntransformed photos: face found {found}/{total}; matched {matched}/{total} "
        f"({100 * matched / total:.0f}%, {100 * matched / max(found, 1):.0f}% of those found); "
        f"false match with the other person {false_matches}/{found}"
    )
    print(
        f"own-reference distance: median {statistics.median(genuine):.3f}, max {max(genuine):.3f};"
        f" other person: min {min(impostor):.3f}"
    )

    strangers = [whole_crop_embedding(crop) for crop in data.lfw_subset()[:100]]
    camera = largest_face_embedding(Image.fromarray(data.camera()).convert("RGB"))
    if camera is not None:
        strangers.append(camera)
    against_enrolled = [
        faces.embedding_distance(stranger, reference)
        for stranger in strangers
        for reference in references.values()
    ]
    among = [
        faces.embedding_distance(first, second)
        for first, second in itertools.combinations(strangers, 2)
    ]
    false_enrolled = sum(distance <= THRESHOLD for distance in against_enrolled)
    false_among = sum(distance <= THRESHOLD for distance in among)
    print(
        f"\nstrangers ({len(strangers)}: 100 lfw_subset crops, 25x25 upscaled, and the "
        f"cameraman{'' if camera is not None else ' (not found)'}):"
    )
    print(
        f"  against the two enrolled references: {false_enrolled}/{len(against_enrolled)} false "
        f"matches ({100 * false_enrolled / len(against_enrolled):.2f}%), nearest "
        f"{min(against_enrolled):.3f}"
    )
    print(
        f"  among themselves: {false_among}/{len(among)} pairs within {THRESHOLD} "
        f"({100 * false_among / len(among):.2f}%; lfw_subset may hold the same person twice, "
        f"and 25-pixel crops blur identities together), median distance "
        f"{statistics.median(among):.3f}"
    )


if __name__ == "__main__":
    main()
