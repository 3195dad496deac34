"""Image helpers for the editor pages: masks and outpainting frames (Pillow, no model)."""

import io

from PIL import Image

Direction = str  # "left" | "right" | "up" | "down"


def has_transparent_area(mask: Image.Image) -> bool:
    """DALL-E 2's rule: fully transparent pixels of the mask mark the area to repaint."""
    if mask.mode != "RGBA":
        return False
    low, _ = mask.getchannel("A").getextrema()
    return low == 0


def extension_frame(image_bytes: bytes, *, direction: Direction) -> bytes:
    """A frame of the image's size, shifted by half a side: half of it is the old image, the
    other half is transparent for the edit operation to fill."""
    source = Image.open(io.BytesIO(image_bytes)).convert("RGBA")
    side = source.width
    half = side // 2
    offsets = {"right": (-half, 0), "left": (half, 0), "down": (0, -half), "up": (0, half)}
    if direction not in offsets:
        raise ValueError(f"unknown direction {direction!r}")
    frame = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    frame.paste(source, offsets[direction])
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue()
