"""The three operations, as one batched pipeline call each.

A batch is a list of jobs that agree on model, operation, size and steps (see
`generation.services.worker`); each job brings its prompt, its seeds (one per image: image i of
a job uses seed + i) and, for edits and variations, its input image and mask. Every image gets
its own CPU generator seeded with its seed, so an image is the same whether it ran alone or in a
batch (up to float rounding), and the same on every machine for a given device type.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from generation.inference.pipelines import LoadedModel, pipeline_get
from generation.inference.references import adapter_arguments

# How far a variation may move from the uploaded image: low enough to keep its content and
# composition, high enough to be a new image.
VARIATION_STRENGTH = 0.6

# step (1-based), total -> keep going? Returning False cancels the whole call.
StepCallback = Callable[[int, int], bool]


class BatchCanceled(Exception):
    """Every job in the batch asked to stop; raised between denoising steps."""


@dataclass
class BatchJob:
    prompt: str
    seeds: list[int]
    init_image: PILImage.Image | None = None  # RGBA or RGB
    mask: PILImage.Image | None = None  # RGBA: its transparent area is what gets repainted
    # Images that steer the result through the model's IP-Adapter (inference/references.py);
    # a job with references runs alone in its call.
    references: list[PILImage.Image] = field(default_factory=list)
    images: list[PILImage.Image] = field(default_factory=list)


def repaint_mask(*, image: PILImage.Image, mask: PILImage.Image | None) -> PILImage.Image:
    """White where the image (or the separate mask) is fully transparent: the area to repaint."""
    source = mask if mask is not None else image
    alpha = np.asarray(source.convert("RGBA"))[:, :, 3]
    return PILImage.fromarray(np.where(alpha == 0, 255, 0).astype(np.uint8), mode="L")


def _generators(seeds: list[int]) -> list:
    import torch

    return [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]


# step (1-based), the batch's images decoded from that step's latents (in seed order).
PreviewCallback = Callable[[int, list[PILImage.Image]], None]


def latents_preview(pipe: Any, latents: Any) -> list[PILImage.Image]:
    """What the images look like so far: the intermediate latents through the VAE's decoder."""
    import torch

    with torch.inference_mode():
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    array = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return [PILImage.fromarray(item.transpose(1, 2, 0)) for item in array]


def _step_callback(
    on_step: StepCallback | None, preview_steps: frozenset[int], on_preview: PreviewCallback | None
) -> Callable:
    def callback(pipe, step_index, timestep, callback_kwargs):  # type: ignore[no-untyped-def]
        step = step_index + 1
        if on_preview is not None and step in preview_steps:
            on_preview(step, latents_preview(pipe, callback_kwargs["latents"]))
        if on_step is not None and not on_step(step, pipe.num_timesteps):
            raise BatchCanceled()
        return callback_kwargs

    return callback


def run_batch(
    *,
    model_id: str,
    operation: str,
    width: int,
    height: int,
    steps: int,
    guidance_scale: float,
    jobs: list[BatchJob],
    on_step: StepCallback | None = None,
    strength: float = VARIATION_STRENGTH,
    preview_steps: frozenset[int] = frozenset(),
    on_preview: PreviewCallback | None = None,
) -> list[BatchJob]:
    """Fills each job's `images` (in seed order), width x height RGB, with one pipeline call.
    `strength`: how much of a variation's input is redrawn (image_options' input_fidelity);
    `on_preview` gets the images decoded at each of `preview_steps` (streamed partial images)."""
    import torch

    loaded = pipeline_get(model_id=model_id)
    render = loaded.spec.render_size(width, height)
    prompts = [job.prompt for job in jobs for _ in job.seeds]
    seeds = [seed for job in jobs for seed in job.seeds]
    common = {
        "prompt": prompts,
        "num_inference_steps": steps,
        "guidance_scale": guidance_scale,
        "generator": _generators(seeds),
        "callback_on_step_end": _step_callback(on_step, preview_steps, on_preview),
        "output_type": "pil",
    }
    with torch.inference_mode():
        common |= adapter_arguments(
            pipe=loaded.pipe_for(operation),
            adapter=loaded.spec.ip_adapter,
            references=[job.references for job in jobs],
            guidance_scale=guidance_scale,
        )
        if operation == "generate":
            outputs = loaded.text2img(width=render[0], height=render[1], **common).images
        elif operation == "variation":
            outputs = _variation(loaded, jobs, render, steps, strength, common)
        else:  # an edit: `pipe_for` above refused any other operation
            outputs = _edit(loaded, jobs, render, common)
    position = 0
    for job in jobs:
        job.images = [
            _final(outputs[position + offset], job=job, operation=operation, size=(width, height))
            for offset in range(len(job.seeds))
        ]
        position += len(job.seeds)
    return jobs


def fitted(
    image: PILImage.Image, size: tuple[int, int], resample: PILImage.Resampling
) -> PILImage.Image:
    """`image` scaled to cover `size` and cropped about its centre: an upload whose shape is not
    the job's (a size was asked that differs from the upload's aspect) is cut, never stretched.
    The mask goes through the same call, so it stays aligned with the image."""
    return ImageOps.fit(image, size, method=resample)


def _per_image(jobs: list[BatchJob], build: Callable[[BatchJob], PILImage.Image]) -> list:
    return [build(job) for job in jobs for _ in job.seeds]


def _variation(
    loaded: LoadedModel,
    jobs: list[BatchJob],
    render: tuple[int, int],
    steps: int,
    strength: float,
    common: dict,
):
    def init(job: BatchJob) -> PILImage.Image:
        assert job.init_image is not None
        return fitted(job.init_image.convert("RGB"), render, PILImage.Resampling.LANCZOS)

    # img2img runs int(steps * strength) steps: never fewer than one.
    common["num_inference_steps"] = max(steps, math.ceil(1 / strength))
    return loaded.img2img(image=_per_image(jobs, init), strength=strength, **common).images


def _edit(loaded: LoadedModel, jobs: list[BatchJob], render: tuple[int, int], common: dict):
    def init(job: BatchJob) -> PILImage.Image:
        assert job.init_image is not None
        return fitted(job.init_image.convert("RGB"), render, PILImage.Resampling.LANCZOS)

    def mask(job: BatchJob) -> PILImage.Image:
        assert job.init_image is not None
        repaint = repaint_mask(image=job.init_image, mask=job.mask)
        return fitted(repaint, render, PILImage.Resampling.NEAREST)

    return loaded.inpaint(
        image=_per_image(jobs, init),
        mask_image=_per_image(jobs, mask),
        width=render[0],
        height=render[1],
        strength=1.0,
        **common,
    ).images


def _final(
    image: PILImage.Image, *, job: BatchJob, operation: str, size: tuple[int, int]
) -> PILImage.Image:
    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, PILImage.Resampling.LANCZOS)
    if operation == "edit" and job.init_image is not None:
        # The VAE round trip blurs what was not to change: put the kept pixels back exactly.
        original = fitted(job.init_image.convert("RGB"), size, PILImage.Resampling.LANCZOS)
        keep = PILImage.eval(repaint_mask(image=job.init_image, mask=job.mask), lambda v: 255 - v)
        image = PILImage.composite(original, image, fitted(keep, size, PILImage.Resampling.NEAREST))
    return image


def prompt_tokens(*, model_id: str, prompt: str) -> int:
    """The tokens the model's text encoder reads of `prompt` (its own tokenizer, truncated at
    its context as the pipeline truncates): OpenAI's `usage.input_tokens`."""
    tokenizer = pipeline_get(model_id=model_id).text2img.tokenizer
    return len(tokenizer(prompt, truncation=True).input_ids) if prompt else 0
