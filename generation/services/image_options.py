"""The image options both APIs and the studio accept, in one place: size, quality, output format
and compression, background, moderation level, input fidelity (docs/api.md, "Parameters").

Each check answers OpenAI's error shape (`InvalidRequest` with the parameter's name). Two steps:
`size_parse` reads the request's own words (no model, no tier), so the free checks can run it
first; `image_options_resolve` then settles what depends on the model and the tier (`auto`, the
model's pixel limit, steps and guidance for the quality).
"""

import math
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidRequest
from generation.inference.registry import ModelSpec, model_ids, model_spec

SIZE_STEP = 64  # the VAE's latent grid times the UNet's downsampling: sides are multiples of 64
MIN_SIDE = 64
MAX_ASPECT = 3.0
AUTO = "auto"
MAX_STEPS = 50

QUALITIES = ("low", "medium", "high", "auto", "standard", "hd")
# Older clients' words, and `auto`, name one of the three levels.
QUALITY_LEVEL = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "auto": "medium",
    "standard": "medium",
    "hd": "high",
}
# Steps per level as a multiple of the model's default_steps, unless the model entry names its
# own (`quality` in settings.EASEL_MODELS). Guidance stays the model's: distilled (turbo)
# models are trained for their one guidance value.
QUALITY_STEP_FACTOR = {"low": 0.5, "medium": 1.0, "high": 2.0}

OUTPUT_FORMATS = ("png", "jpeg", "webp")
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DEFAULT_COMPRESSION = 100  # OpenAI's default: no extra compression
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATION_LEVELS = ("auto", "low")
INPUT_FIDELITIES = ("low", "high")
# How much of an edited or varied image is redrawn (img2img strength): `low` keeps its
# composition, `high` keeps nearly every detail.
INPUT_FIDELITY_STRENGTH = {"low": 0.6, "high": 0.3}


def _enum_error(value: Any, choices: tuple[str, ...], param: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{value}' is not one of {list(choices)} - '{param}'", param=param, code="invalid_value"
    )


@dataclass(frozen=True)
class ImageSize:
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


def aspect_allowed(width: int, height: int) -> bool:
    """At most 3:1 either way: the rule for a requested size and for an upload alike."""
    return max(width, height) <= MAX_ASPECT * min(width, height)


def size_parse(size: int | str | None) -> ImageSize | None:
    """`WxH` (multiples of 64, aspect at most 3:1), a bare side (a square), or None for `auto`.

    An int is a square's side (the studio's and older callers' way); a text needs both."""
    if size is None or str(size).strip().lower() == AUTO:
        return None
    text = str(size).strip().lower()
    width_text, separator, height_text = text.partition("x")
    if not separator and isinstance(size, int):
        height_text = width_text
    if not (width_text.isdigit() and height_text.isdigit()):
        raise InvalidRequest(
            f"Invalid 'size': '{size}'. Use 'auto' or WIDTHxHEIGHT, e.g. '1024x1024' or "
            "'1536x1024'.",
            param="size",
            code="invalid_value",
        )
    width, height = int(width_text), int(height_text)
    if width < MIN_SIDE or height < MIN_SIDE or width % SIZE_STEP or height % SIZE_STEP:
        raise InvalidRequest(
            f"Invalid 'size': '{size}'. Width and height are multiples of {SIZE_STEP}, at least "
            f"{MIN_SIDE}.",
            param="size",
            code="invalid_value",
        )
    if not aspect_allowed(width, height):
        raise InvalidRequest(
            f"Invalid 'size': '{size}'. The aspect ratio may be at most 3:1.",
            param="size",
            code="invalid_value",
        )
    return ImageSize(width=width, height=height)


# How far `auto`'s shape may stray from an upload's aspect (10 %) to gain pixels on the grid.
AUTO_ASPECT_TOLERANCE = math.log(1.1)


def size_auto(
    *, native_size: int, max_pixels: int, source: tuple[int, int] | None = None
) -> ImageSize:
    """`auto`: the largest size on the 64-pixel grid with no more pixels than the model's native
    square (nor the cap), in the shape of `source` (an edit's or a variation's upload: width,
    height; clamped to 3:1) or square without one. A shape within 10 % of the upload's wins
    over a truer one with fewer pixels; so `auto` never costs more than the native square."""
    ratio = 1.0 if source is None else source[0] / source[1]
    stretch = min(MAX_ASPECT, max(ratio, 1 / ratio))  # long side / short side, >= 1
    target = min(native_size * native_size, max_pixels)

    def rank(pair: tuple[int, int]) -> tuple[bool, int, float]:
        short, long = pair
        error = abs(math.log(long / short) - math.log(stretch))
        close = error <= AUTO_ASPECT_TOLERANCE
        return close, long * short if close else 0, -error

    shorts = range(MIN_SIDE, max(MIN_SIDE, math.isqrt(target)) + 1, SIZE_STEP)
    candidates = [
        (short, long)
        for short in shorts
        for long in range(short, int(MAX_ASPECT * short) + 1, SIZE_STEP)
        if long * short <= target
    ] or [(MIN_SIDE, MIN_SIDE)]
    short, long = max(candidates, key=rank)
    width, height = (long, short) if ratio >= 1 else (short, long)
    return ImageSize(width=width, height=height)


def size_limit_check(*, size: ImageSize, max_pixels: int, whose: str) -> None:
    """Over `max_pixels` is a 400 naming whose limit it is (the model's or the plan's)."""
    if size.pixels > max_pixels:
        raise InvalidRequest(
            f"The size '{size.label}' ({size.pixels:,} pixels) is over {whose} limit of "
            f"{max_pixels:,} pixels per image.",
            param="size",
            code="size_above_limit",
        )


def quality_check(quality: str | None) -> str:
    quality = quality or AUTO
    if quality not in QUALITIES:
        raise _enum_error(quality, QUALITIES, "quality")
    return quality


def quality_steps(*, quality: str, default_steps: int, table: dict[str, int] | None) -> int:
    """The denoising steps `quality` means for a model (its own table, else the factors)."""
    level = QUALITY_LEVEL[quality]
    if table and level in table:
        return int(table[level])
    return max(1, min(MAX_STEPS, math.ceil(default_steps * QUALITY_STEP_FACTOR[level])))


def output_format_check(
    *, output_format: str | None, compression: int | None, background: str | None
) -> tuple[str, int, str]:
    """(format, compression, background), with transparent JPEG refused."""
    output_format = (output_format or "png").lower()
    if output_format not in OUTPUT_FORMATS:
        raise _enum_error(output_format, OUTPUT_FORMATS, "output_format")
    background = background or AUTO
    if background not in BACKGROUNDS:
        raise _enum_error(background, BACKGROUNDS, "background")
    if background == "transparent" and output_format == "jpeg":
        raise InvalidRequest(
            "Transparent backgrounds need an output format with alpha: use 'png' or 'webp', "
            "not 'jpeg'.",
            param="background",
            code="invalid_value",
        )
    if compression is None:
        compression = DEFAULT_COMPRESSION
    if isinstance(compression, bool) or not isinstance(compression, int):
        raise InvalidRequest("'output_compression' must be an integer.", param="output_compression")
    if not 0 <= compression <= 100:
        raise InvalidRequest(
            f"Invalid 'output_compression': expected 0 to 100, got {compression}.",
            param="output_compression",
            code="invalid_value",
        )
    return output_format, compression, background


def moderation_check(moderation: str | None) -> str:
    moderation = moderation or AUTO
    if moderation not in MODERATION_LEVELS:
        raise _enum_error(moderation, MODERATION_LEVELS, "moderation")
    return moderation


def input_fidelity_check(input_fidelity: str | None) -> str:
    input_fidelity = input_fidelity or "low"
    if input_fidelity not in INPUT_FIDELITIES:
        raise _enum_error(input_fidelity, INPUT_FIDELITIES, "input_fidelity")
    return input_fidelity


@dataclass(frozen=True)
class ImageOptions:
    """What a job renders and delivers, settled for its model and the user's plan."""

    size: ImageSize
    steps: int
    guidance_scale: float
    quality: str
    output_format: str
    output_compression: int
    background: str
    moderation: str
    input_fidelity: str


def image_options_resolve(
    *,
    spec: ModelSpec,
    max_pixels: int,
    size: int | str | None,
    steps: int | None = None,
    quality: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    background: str | None = None,
    moderation: str | None = None,
    input_fidelity: str | None = None,
    source: tuple[int, int] | None = None,
) -> ImageOptions:
    """`spec`: the model's registry entry; `max_pixels`: the plan's cap; `source`: the upload's
    width and height, whose shape `auto` keeps. `steps`, when given, wins over the quality's
    (the native API's own knob; its type and range are checked by the parameters step first,
    `parameters.seed_steps_check`)."""
    requested = size_parse(size)
    cap = min(max_pixels, spec.max_pixels)
    if requested is None:
        resolved = size_auto(native_size=spec.native_size, max_pixels=cap, source=source)
    else:
        size_limit_check(size=requested, max_pixels=spec.max_pixels, whose=f"'{spec.id}''s")
        size_limit_check(size=requested, max_pixels=max_pixels, whose="your plan's")
        resolved = requested
    quality = quality_check(quality)
    fmt, compression, background = output_format_check(
        output_format=output_format, compression=output_compression, background=background
    )
    if background == "transparent" and not spec.background_model:
        raise InvalidRequest(
            f"The model '{spec.id}' has no background remover configured, so it cannot make "
            "transparent images; send background 'opaque' or 'auto'.",
            param="background",
            code="invalid_value",
        )
    return ImageOptions(
        size=resolved,
        steps=steps
        or quality_steps(
            quality=quality, default_steps=spec.default_steps, table=spec.quality_steps
        ),
        guidance_scale=spec.guidance_scale,
        quality=quality,
        output_format=fmt,
        output_compression=compression,
        background=background,
        moderation=moderation_check(moderation),
        input_fidelity=input_fidelity_check(input_fidelity),
    )


MAX_INPUT_IMAGES = 16  # an edit's image plus its references, as OpenAI's
REFERENCE_OPERATIONS = ("edit", "variation")


def input_images_check(*, count: int) -> None:
    """An edit or variation takes up to 16 images: the first is edited (or varied), the rest are
    references. Counted before anything is read, so a long list costs nothing."""
    if count > MAX_INPUT_IMAGES:
        raise InvalidRequest(
            f"Invalid 'image': at most {MAX_INPUT_IMAGES} images, got {count}.",
            param="image",
            code="too_many_images",
        )


def references_check(*, spec: ModelSpec, operation: str, count: int) -> None:
    """References need the model's IP-Adapter (`ip_adapter` in its entry): without one, more
    than one image is a 400 that says so rather than a silent drop."""
    if count == 0:
        return
    if operation not in REFERENCE_OPERATIONS:
        raise InvalidRequest(
            "Reference images are taken by edits and variations only.",
            param="image",
            code="references_not_supported",
        )
    if spec.ip_adapter is None:
        with_adapter = [
            model_id for model_id in model_ids() if model_spec(model_id=model_id).ip_adapter
        ]
        choose = f" Models that take them: {with_adapter}." if with_adapter else ""
        raise InvalidRequest(
            f"Invalid 'image': {count + 1} images were sent, but the model '{spec.id}' takes no "
            f"reference images; send the one image to edit.{choose}",
            param="image",
            code="references_not_supported",
        )


MAX_PARTIAL_IMAGES = 3


def partial_images_check(*, stream: bool, partial_images: int | None) -> int:
    """Previews to stream (0-3); only a streamed request gets any."""
    count = partial_images or 0
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 3:
        raise InvalidRequest(
            f"Invalid 'partial_images': expected 0 to {MAX_PARTIAL_IMAGES}, got {partial_images}.",
            param="partial_images",
            code="invalid_value",
        )
    return count if stream else 0


def preview_steps(*, total: int, count: int) -> frozenset[int]:
    """The denoising steps (1-based) whose latents are previewed: `count` of the intermediate
    ones, evenly spread (a short run has fewer, as OpenAI's fast renders send fewer)."""
    intermediate = list(range(1, total))
    count = min(count, len(intermediate))
    if count <= 0:
        return frozenset()
    picks = {round((i + 1) * (len(intermediate) + 1) / (count + 1)) - 1 for i in range(count)}
    return frozenset(intermediate[pick] for pick in picks)
