"""The model registry: what each configured model is and what it serves (settings.EASEL_MODELS)."""

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from common.errors import InvalidRequest
from common.queues import Queue

BUILTIN_TINY = "builtin:tiny"
OPERATIONS = ("generate", "edit", "variation")
# 1792x1024, the largest size OpenAI's clients name.
DEFAULT_MAX_PIXELS = 1792 * 1024


@dataclass(frozen=True)
class IpAdapterSpec:
    """A model entry's `ip_adapter`: weights configured like the model's own (a hub id or a local
    folder, or "builtin:tiny"), and how strongly references steer the result (0..1)."""

    source: str
    subfolder: str = ""
    weight_name: str = ""
    image_encoder_folder: str = "image_encoder"
    scale: float = 0.6

    @property
    def is_builtin_tiny(self) -> bool:
        return self.source == BUILTIN_TINY


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: str  # a hub id, a local folder, or "builtin:tiny"
    native_size: int
    default_steps: int
    guidance_scale: float
    scheduler: str
    operations: tuple[str, ...]
    # The Celery queue its jobs go to: `gpu` unless the entry names its own, so a model can have
    # GPU workers of its own that scale to zero when it is idle (docs/deploy.md).
    queue: str = Queue.GPU
    # The most pixels one image may have (WxH); DEFAULT_MAX_PIXELS unless the entry says.
    max_pixels: int = 0
    # quality level (low, medium, high) -> denoising steps, when the entry names its own
    # (generation/services/image_options.py derives them from default_steps otherwise).
    quality_steps: dict[str, int] | None = None
    # The segmentation model that cuts out transparent backgrounds: a hub id, a local folder or
    # "builtin:tiny"; empty: the model makes no transparent images.
    background_model: str = ""
    # The IP-Adapter that conditions an edit or variation on reference images (generation/
    # inference/references.py); None: the model takes no references (more than one image is a
    # 400, `references_not_supported`).
    ip_adapter: IpAdapterSpec | None = None

    @property
    def is_builtin_tiny(self) -> bool:
        return self.source == BUILTIN_TINY

    def render_size(self, width: int, height: int) -> tuple[int, int]:
        """Smaller requests render at the model's native size (the short side scaled up to it,
        in multiples of 64) and are then downscaled."""
        if min(width, height) >= self.native_size:
            return width, height
        scale = self.native_size / min(width, height)
        return (_multiple_of_64(width * scale), _multiple_of_64(height * scale))


def _multiple_of_64(side: float) -> int:
    return max(64, round(side / 64) * 64)


def _spec(model_id: str, entry: dict) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        source=str(entry["source"]),
        native_size=int(entry["native_size"]),
        default_steps=int(entry["default_steps"]),
        guidance_scale=float(entry["guidance_scale"]),
        scheduler=str(entry.get("scheduler", "")),
        operations=tuple(entry.get("operations", OPERATIONS)),
        queue=str(entry.get("queue", Queue.GPU)),
        max_pixels=int(entry.get("max_pixels", DEFAULT_MAX_PIXELS)),
        quality_steps={str(k): int(v) for k, v in entry["quality"].items()}
        if entry.get("quality")
        else None,
        background_model=str(entry.get("background_model", "")),
        ip_adapter=IpAdapterSpec(**entry["ip_adapter"]) if entry.get("ip_adapter") else None,
    )


def model_ids() -> list[str]:
    return list(settings.EASEL_MODELS)


def default_model_id() -> str:
    return settings.EASEL_MODEL


def model_spec(*, model_id: str | None = None) -> ModelSpec:
    """The registry entry; an unknown id is the caller's mistake (400, param `model`)."""
    model_id = model_id or default_model_id()
    entry = settings.EASEL_MODELS.get(model_id)
    if entry is None:
        known = ", ".join(f"'{name}'" for name in settings.EASEL_MODELS)
        raise InvalidRequest(
            f"The model '{model_id}' does not exist. Available models: {known}.",
            param="model",
            code="model_not_found",
        )
    return _spec(model_id, entry)


def model_queue(*, model_id: str) -> str:
    """The queue a job of this model is sent to; `gpu` for a model no longer configured (its jobs
    then fail on the worker with a clear message rather than wait on a queue nobody serves)."""
    entry = settings.EASEL_MODELS.get(model_id)
    return str(entry.get("queue", Queue.GPU)) if entry else Queue.GPU


def gpu_queues() -> set[str]:
    """Every queue a GPU worker may serve: `gpu` and each model's own."""
    return {Queue.GPU.value} | {model_queue(model_id=model_id) for model_id in model_ids()}


FETCHED_MARKER = ".easel-fetched.json"  # written last by `models fetch` (services/model_cache.py)


def model_cache_folder(*, model_id: str) -> Path:
    """Where `manage.py models fetch` puts this model's weights."""
    return Path(settings.EASEL_MODEL_CACHE) / re.sub(r"[^A-Za-z0-9._-]+", "--", model_id)


def model_fetched(*, model_id: str) -> bool:
    return (model_cache_folder(model_id=model_id) / FETCHED_MARKER).is_file()


def model_load_source(spec: ModelSpec) -> str:
    """What the loader reads: the fetched copy when there is one, else the configured source."""
    if model_fetched(model_id=spec.id):
        return str(model_cache_folder(model_id=spec.id))
    return spec.source


def model_alias_target(*, name: str) -> str | None:
    """The Easel model that answers OpenAI's model `name` (settings.EASEL_OPENAI_MODEL_ALIASES),
    or None when `name` is no alias."""
    aliases: dict[str, str] = settings.EASEL_OPENAI_MODEL_ALIASES
    if name not in aliases:
        return None
    return aliases[name] or default_model_id()


def model_aliases() -> list[str]:
    return sorted(settings.EASEL_OPENAI_MODEL_ALIASES)
