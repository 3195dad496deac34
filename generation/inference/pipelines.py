"""Loading pipelines: once per worker child process, lazily, then warmed and cached.

The Celery parent process never imports torch's CUDA state: each child loads its models here,
from a warm-up thread as it starts for EASEL_WORKER_MODELS (common/celery_worker.py: the worker
consumes its GPU queues only after it; `worker_process_init` handlers are killed after 4 s, too
short for real weights), or at the first job needing a model not warmed.
A model that cannot be loaded raises ModelUnavailable with which model, why and how to fix;
the failure is remembered for a short while so a queue of jobs fails fast rather than each
retrying a multi-second download that cannot succeed.
"""

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from common import metrics
from generation.inference.references import adapter_arguments, references_attach
from generation.inference.registry import ModelSpec, model_load_source, model_spec

logger = logging.getLogger(__name__)

_FAILURE_MEMORY_SECONDS = 60.0


class ModelUnavailable(Exception):
    """The configured model could not be loaded; `str()` is the operator's explanation."""


@dataclass
class LoadedModel:
    spec: ModelSpec
    device: str
    dtype: Any
    text2img: Any
    img2img: Any
    inpaint: Any

    def pipe_for(self, operation: str) -> Any:
        """The pipeline that runs `operation` (generate, variation, edit)."""
        pipes = {"generate": self.text2img, "variation": self.img2img, "edit": self.inpaint}
        if operation not in pipes:
            raise ValueError(f"unknown operation {operation!r}")
        return pipes[operation]


_cache: dict[str, LoadedModel] = {}
_failures: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def device_for_child(*, child_index: int | None, device_count: int) -> str:
    """The device of GPU-worker child `child_index` (0, 1, ... as Celery's prefork pool numbers
    them; a restarted child keeps its number): its own GPU when there are as many as children
    (`--concurrency` = GPUs), shared round-robin when fewer; the CPU when there is none."""
    if device_count <= 0:
        return "cpu"
    return f"cuda:{(child_index or 0) % device_count}"


def device_choose() -> str:
    """This process's device: without it every child of a several-GPU machine landed on cuda:0."""
    import torch
    from billiard.process import current_process

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = device_for_child(
        child_index=getattr(current_process(), "index", None), device_count=count
    )
    if device != "cpu":
        torch.cuda.set_device(device)  # allocations that name no device (generators) go there
    return device


def _build_tiny(device: str, dtype: Any) -> tuple[Any, Any, Any]:
    from diffusers import (
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    from generation.inference.tiny import build_tiny_components

    parts = build_tiny_components()
    shared = {
        "vae": parts.vae,
        "text_encoder": parts.text_encoder,
        "tokenizer": parts.tokenizer,
        "scheduler": parts.scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    text2img = StableDiffusionPipeline(unet=parts.unet, **shared)
    img2img = StableDiffusionImg2ImgPipeline(unet=parts.unet, **shared)
    inpaint = StableDiffusionInpaintPipeline(unet=parts.inpaint_unet, **shared)
    for pipe in (text2img, img2img, inpaint):
        # float32 is how the parts were built: casting only when the device wants half precision.
        pipe.to(device) if str(dtype) == "torch.float32" else pipe.to(device, dtype)
        pipe.set_progress_bar_config(disable=True)
    return text2img, img2img, inpaint


def _build_from_source(spec: ModelSpec, dtype: Any) -> tuple[Any, Any, Any]:
    import diffusers
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )

    source = model_load_source(spec)  # the fetched copy (models fetch) when there is one
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if str(dtype) == "torch.float16" and not os.path.isdir(source):
        kwargs["variant"] = "fp16"
    try:
        text2img = AutoPipelineForText2Image.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        if "variant" not in kwargs:
            raise
        # Not every repository publishes fp16 files: the full-precision ones cast down work too.
        logger.info("model %s has no fp16 variant (%s); loading full precision", spec.id, error)
        kwargs.pop("variant")
        text2img = AutoPipelineForText2Image.from_pretrained(source, **kwargs)
    if spec.scheduler:
        scheduler_class = getattr(diffusers, spec.scheduler)
        text2img.scheduler = scheduler_class.from_config(
            text2img.scheduler.config, timestep_spacing="trailing"
        )
    img2img = AutoPipelineForImage2Image.from_pipe(text2img)
    inpaint = AutoPipelineForInpainting.from_pipe(text2img)
    return text2img, img2img, inpaint


def _optimise_for_gpu(pipes: tuple[Any, ...]) -> None:
    """fp16 is set at load; here scaled-dot-product attention, channels-last, optional compile.

    EASEL_TORCH_COMPILE compiles the UNet and the VAE's decode: at 512 px and one step the
    decode is most of an image's work (2.5 of 3.4 TFLOP), and bench/gpu.py's compiled figures
    are of both. torch.compile specialises on shapes: each new (batch, size) compiles on its
    first call (about a minute for an SD-Turbo UNet on an H100), so turn it on only for a fleet
    serving few shapes.
    """
    import torch
    from diffusers.models.attention_processor import AttnProcessor2_0

    compiled: dict[int, Any] = {}
    vaes_done: set[int] = set()
    for pipe in pipes:
        unet = pipe.unet
        if id(unet) not in compiled:
            if unet.encoder_hid_proj is None:  # an IP-Adapter's layers use SDPA already
                unet.set_attn_processor(AttnProcessor2_0())
            unet.to(memory_format=torch.channels_last)
            compiled[id(unet)] = (
                torch.compile(unet, mode="default") if settings.EASEL_TORCH_COMPILE else unet
            )
        # Pipelines that share a UNet (from_pipe) share its one compiled wrapper too.
        pipe.unet = compiled[id(unet)]
        vae = pipe.vae
        if id(vae) not in vaes_done:  # shared by from_pipe too: its decode is compiled once
            vae.to(memory_format=torch.channels_last)
            if settings.EASEL_TORCH_COMPILE:
                vae.decode = torch.compile(vae.decode, mode="default")
            vaes_done.add(id(vae))


def _how_to_fix(spec: ModelSpec) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        network = "HF_HUB_OFFLINE=1 is set, so nothing can be downloaded. "
    else:
        network = ""
    return (
        f"{network}Fix: download it once on this worker "
        f"(`huggingface-cli download {spec.source}`), or point its source at a local folder "
        f"holding a diffusers pipeline (settings.EASEL_MODELS['{spec.id}']['source']), "
        "or set EASEL_MODEL=easel/tiny for the built-in test model."
    )


def _load(spec: ModelSpec) -> LoadedModel:
    import torch

    device = device_choose()
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    started = time.monotonic()
    try:
        if spec.is_builtin_tiny:
            text2img, img2img, inpaint = _build_tiny(device, dtype)
        else:
            text2img, img2img, inpaint = _build_from_source(spec, dtype)
            for pipe in (text2img, img2img, inpaint):
                pipe.to(device)
                pipe.set_progress_bar_config(disable=True)
        if spec.ip_adapter is not None:
            # Before the GPU tuning: its compiled UNet wrapper takes no new attention layers.
            references_attach(adapter=spec.ip_adapter, pipes=(text2img, img2img, inpaint))
        if device.startswith("cuda"):
            _optimise_for_gpu((text2img, img2img, inpaint))
    except Exception as error:  # every cause (missing files, no network, bad config) is reported
        raise ModelUnavailable(
            f"The model '{spec.id}' (source '{spec.source}') could not be loaded on {device}: "
            f"{type(error).__name__}: {error}. {_how_to_fix(spec)}"
        ) from error
    loaded = LoadedModel(
        spec=spec, device=device, dtype=dtype, text2img=text2img, img2img=img2img, inpaint=inpaint
    )
    _warm(loaded)
    logger.info(
        "model %s loaded on %s in %.1f s",
        spec.id,
        device,
        time.monotonic() - started,
        extra={"model": spec.id, "device": device},
    )
    return loaded


def _warm(loaded: LoadedModel) -> None:
    """One small call, so the first customer does not pay for kernel selection (or compiling)."""
    import torch

    size = loaded.spec.native_size
    extra = adapter_arguments(
        pipe=loaded.text2img,
        adapter=loaded.spec.ip_adapter,
        references=[[]],
        guidance_scale=loaded.spec.guidance_scale,
    )
    with torch.inference_mode():
        loaded.text2img(
            prompt="warm-up",
            num_inference_steps=1,
            guidance_scale=loaded.spec.guidance_scale,
            height=size,
            width=size,
            output_type="latent",
            **extra,
        )


def pipeline_get(*, model_id: str) -> LoadedModel:
    """The loaded model for this process, loading and warming it on first use."""
    loaded = _cache.get(model_id)
    if loaded is not None:
        return loaded
    spec = model_spec(model_id=model_id)
    with _lock:
        if model_id in _cache:
            return _cache[model_id]
        failed = _failures.get(model_id)
        if failed and time.monotonic() - failed[0] < _FAILURE_MEMORY_SECONDS:
            raise ModelUnavailable(failed[1])
        try:
            loaded = _load(spec)
        except ModelUnavailable as error:
            _failures[model_id] = (time.monotonic(), str(error))
            logger.error("%s", error, extra={"model": model_id})
            raise
        _failures.pop(model_id, None)
        _cache[model_id] = loaded
        metrics.model_loaded(model_id=model_id)
        return loaded


def pipeline_cache_clear() -> None:
    """Forgets loaded models and remembered failures (tests; a settings change)."""
    with _lock:
        _cache.clear()
        _failures.clear()
