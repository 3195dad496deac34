"""Image helpers for the editor pages: masks (Pillow, no model). Outpainting frames are
generation.services.outpainting's."""

from PIL import Image


def has_transparent_area(mask: Image.Image) -> bool:
    """DALL-E 2's rule: fully transparent pixels of the mask mark the area to repaint."""
    if mask.mode != "RGBA":
        return False
    low, _ = mask.getchannel("A").getextrema()
    return low == 0
