"""The model cache: weights put on a worker's disk ahead of time (`manage.py models fetch`).

GPU workers never download per request: at deploy time an init step fetches each configured
model into EASEL_MODEL_CACHE (a volume shared by the pod's containers), and the loader reads the
fetched copy first (generation/inference/registry.py, `model_load_source`). A fetch is atomic:
files go to a temporary folder beside the target, which is renamed into place only when
complete, with a marker saying what it holds; a half-finished fetch is never loaded.
"""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from common.errors import InvalidRequest
from generation.inference.registry import (
    FETCHED_MARKER as MARKER,
)
from generation.inference.registry import (
    ModelSpec,
    model_cache_folder,
    model_fetched,
    model_spec,
)

# A diffusers pipeline repository: its index and the component folders (unet/, vae/, ...),
# not the single-file checkpoints some repositories also publish at the top level.
HUB_ALLOW_PATTERNS = ["model_index.json", "*/*"]


@dataclass(frozen=True)
class FetchResult:
    model_id: str
    folder: Path | None
    outcome: str  # "fetched", "present" (already there), "built-in" (nothing to fetch)
    files: int = 0
    bytes: int = 0


def model_fetch(*, model_id: str, force: bool = False) -> FetchResult:
    """Puts the model's weights into the cache folder; idempotent (a present copy is kept)."""
    spec = model_spec(model_id=model_id)
    if spec.is_builtin_tiny:
        return FetchResult(model_id=model_id, folder=None, outcome="built-in")
    target = model_cache_folder(model_id=model_id)
    if model_fetched(model_id=model_id) and not force and _marker_source(target) == spec.source:
        files, size = _count(target)
        return FetchResult(
            model_id=model_id, folder=target, outcome="present", files=files, bytes=size
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _download(spec=spec, into=staging)
        if not (staging / "model_index.json").is_file():
            raise InvalidRequest(
                f"The source of '{model_id}' ('{spec.source}') holds no diffusers pipeline "
                "(no model_index.json).",
                param="model",
            )
        files, size = _count(staging)
        marker = {
            "model": model_id,
            "source": spec.source,
            "fetched_at": timezone.now().isoformat(),
            "files": files,
            "bytes": size,
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        _swap_into_place(staging=staging, target=target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(model_id=model_id, folder=target, outcome="fetched", files=files, bytes=size)


def models_to_fetch(*, model_ids: list[str] | None, every: bool) -> list[str]:
    """The models named, all configured ones, or (by default) those the workers load."""
    if every:
        return list(settings.EASEL_MODELS)
    return model_ids or list(settings.EASEL_WORKER_MODELS)


def _download(*, spec: ModelSpec, into: Path) -> None:
    if os.path.isdir(spec.source):
        shutil.copytree(spec.source, into, dirs_exist_ok=True)
        return
    if spec.source.startswith(("/", ".")):
        raise InvalidRequest(
            f"The source of '{spec.id}' is the folder '{spec.source}', which does not exist.",
            param="model",
        )
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=spec.source, local_dir=into, allow_patterns=HUB_ALLOW_PATTERNS)
    except Exception as error:  # offline, unknown repository, no access: say which and why
        raise InvalidRequest(
            f"Could not download '{spec.source}' for '{spec.id}': {type(error).__name__}: {error}",
            param="model",
        ) from error


def _swap_into_place(*, staging: Path, target: Path) -> None:
    """The old copy (if any) moves aside before the new one takes its name: a loader sees the
    old complete copy or the new complete copy, never a mix."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


def _marker_source(folder: Path) -> str | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError):
        return None


def _count(folder: Path) -> tuple[int, int]:
    files = [path for path in folder.rglob("*") if path.is_file() and path.name != MARKER]
    return len(files), sum(path.stat().st_size for path in files)
