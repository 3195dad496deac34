"""Test images: photos that ship inside installed packages, and a cartoon face drawn here.

- `skimage.data.astronaut()`: Eileen Collins, a real public figure (512x512 photo).
- matplotlib's `sample_data/grace_hopper.jpg`: a different real person.
- `skimage.data.chelsea()`: a cat, no human face.
"""

from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageEnhance, ImageOps
from skimage import data


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def astronaut_reference_crop() -> Image.Image:
    """The crop a figure is registered from: her head and shoulders, top left."""
    return astronaut().crop((60, 0, 400, 340))


def astronaut_edited_copy() -> Image.Image:
    """A different crop of the same photo, mirrored, brighter and resized: what a user might
    upload or a model might reproduce."""
    edited = astronaut().crop((120, 30, 512, 420)).resize((300, 300))
    edited = ImageOps.mirror(edited)
    return ImageEnhance.Brightness(edited).enhance(1.25)


def grace_hopper() -> Image.Image:
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(path) as image:
        return image.convert("RGB")


def cat() -> Image.Image:
    return Image.fromarray(data.chelsea())


def cartoon_face(size: int = 512) -> Image.Image:
    """A flat-coloured drawn face: oval head, hair, eyes, nose and smile on a sky background.

    mediapipe finds a face in it (confidence ~0.65), which is why realism needs its own signal.
    """
    scale = size / 512
    image = Image.new("RGB", (size, size), (135, 206, 235))
    draw = ImageDraw.Draw(image)

    def box(left: float, top: float, right: float, bottom: float) -> tuple[int, ...]:
        return tuple(int(value * scale) for value in (left, top, right, bottom))

    draw.ellipse(box(136, 96, 376, 396), fill=(255, 224, 189), outline=(0, 0, 0), width=4)
    draw.pieslice(box(126, 70, 386, 200), 180, 360, fill=(90, 50, 20))
    for left in (190, 282):
        draw.ellipse(box(left, 190, left + 40, 230), fill="white", outline="black", width=3)
        draw.ellipse(box(left + 12, 202, left + 28, 218), fill="black")
    draw.polygon(
        [
            (int(256 * scale), int(240 * scale)),
            (int(244 * scale), int(290 * scale)),
            (int(268 * scale), int(290 * scale)),
        ],
        outline="black",
        fill=(240, 200, 170),
    )
    draw.arc(box(200, 280, 312, 350), 20, 160, fill=(200, 0, 0), width=max(1, int(6 * scale)))
    return image
