"""Extend (outpainting): frames and credits per placement, and Easel's own time per frame.

    .venv/bin/python bench/outpainting.py

Prints, for each source size, scale and direction, the canvas, the number of frames (each an
edit generation) and the credits; then the time Easel spends around one frame besides the
model: cutting the frame out of the canvas (PNG), and pasting a finished frame's new pixels
back and storing the canvas (PNG), on the largest canvas (2048x2048, 1024 frames). No
database, no model: pure Pillow on this machine's CPU.
"""

import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from generation.services.outpainting import DIRECTIONS, _png, extension_plan  # noqa: E402


def plans() -> None:
    prices = settings.BILLING_IMAGE_PRICES
    print("size scale direction     canvas      frames credits")
    for size in (256, 512, 1024):
        for scale in ("1.5", "2"):
            for direction in DIRECTIONS:
                plan = extension_plan(frame_size=size, scale=scale, direction=direction)
                frames = len(plan.frames)
                canvas = f"{plan.canvas_width}x{plan.canvas_height}"
                print(
                    f"{size:4} {scale:>5} {direction:12} {canvas:>11} {frames:6} "
                    f"{frames * prices[size]:7}"
                )


def timed(action, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def per_frame_overhead() -> None:
    side, canvas_side = 1024, 2048
    random = np.random.default_rng(1)
    canvas = PILImage.new("RGBA", (canvas_side, canvas_side), (0, 0, 0, 0))
    source = PILImage.fromarray(random.integers(0, 255, (side, side, 3), dtype=np.uint8))
    canvas.paste(source.convert("RGBA"), (512, 512))
    painted = PILImage.fromarray(random.integers(0, 255, (side, side, 3), dtype=np.uint8))
    canvas_png = _png(canvas)
    box = (512, 0, 512 + side, side)

    def cut() -> None:
        picture = PILImage.open(io.BytesIO(canvas_png)).convert("RGBA")
        _png(picture.crop(box))

    def paste() -> None:
        picture = PILImage.open(io.BytesIO(canvas_png)).convert("RGBA")
        region = picture.crop(box)
        picture.paste(
            PILImage.composite(region, painted.convert("RGBA"), region.getchannel("A")), box
        )
        _png(picture)

    print(f"cut a 1024 frame from a 2048 canvas (decode + crop + PNG): {timed(cut):.0f} ms")
    paste_ms = timed(paste)
    print(f"paste a 1024 frame and store the 2048 canvas (decode + paste + PNG): {paste_ms:.0f} ms")


if __name__ == "__main__":
    plans()
    per_frame_overhead()
