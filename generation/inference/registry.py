"""The model registry: what each configured model is and what it serves (settings.EASEL_MODELS)."""

from dataclasses import dataclass

from django.conf import settings

from common.errors import InvalidRequest

BUILTIN_TINY = "builtin:tiny"
OPERATIONS = ("generate", "edit", "variation")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: str  # a hub id, a local folder, or "builtin:tiny"
    native_size: int
    default_steps: int
    guidance_scale: float
    scheduler: str
    operations: tuple[str, ...]

    @property
    def is_builtin_tiny(self) -> bool:
        return self.source == BUILTIN_TINY

    def render_size(self, size: int) -> int:
        """Smaller requests render at the model's native size and are then downscaled."""
        return max(size, self.native_size)


def _spec(model_id: str, entry: dict) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        source=str(entry["source"]),
        native_size=int(entry["native_size"]),
        default_steps=int(entry["default_steps"]),
        guidance_scale=float(entry["guidance_scale"]),
        scheduler=str(entry.get("scheduler", "")),
        operations=tuple(entry.get("operations", OPERATIONS)),
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
