"""The pipelines for real, with the tiny random model: operations, seeds, batching, failures."""

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from common.errors import InvalidRequest
from generation.inference.operations import BatchCanceled, BatchJob, repaint_mask, run_batch
from generation.inference.pipelines import ModelUnavailable, pipeline_cache_clear, pipeline_get
from generation.inference.registry import model_spec
from generation.inference.tiny import build_tiny_components
from tests.generation.conftest import picture_with_hole

TINY = "easel/tiny"


def pixels(picture) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(picture.convert("RGB"), dtype=np.float64)


def generate(*, seeds, size=256, steps=2, prompt="a lighthouse at dusk", on_step=None):  # type: ignore[no-untyped-def]
    jobs = [BatchJob(prompt=prompt, seeds=list(seeds))]
    return run_batch(
        model_id=TINY,
        operation="generate",
        width=size,
        height=size,
        steps=steps,
        guidance_scale=0.0,
        jobs=jobs,
        on_step=on_step,
    )[0].images


def edit(job: BatchJob, *, width: int = 256, height: int = 256):  # type: ignore[no-untyped-def]
    """The one edited picture of a one-job edit batch, two steps."""
    return run_batch(
        model_id=TINY,
        operation="edit",
        width=width,
        height=height,
        steps=2,
        guidance_scale=0.0,
        jobs=[job],
    )[0].images[0]


def test_tiny_model_is_built_offline_with_the_same_weights_every_time():
    first, second = build_tiny_components(), build_tiny_components()
    for name in ("unet", "inpaint_unet", "vae", "text_encoder"):
        a, b = getattr(first, name).state_dict(), getattr(second, name).state_dict()
        assert all(torch.equal(a[key], b[key]) for key in a), name
    assert first.inpaint_unet.config.in_channels == 9
    assert 2 ** (len(first.vae.config.block_out_channels) - 1) == 8  # the VAE scale factor
    assert first.tokenizer("a cat").input_ids[0] == first.tokenizer.bos_token_id


def test_text_to_image_honours_seeds_and_size():
    steps = []
    images = generate(
        seeds=[11, 12], on_step=lambda step, total: steps.append((step, total)) or True
    )
    assert [image.size for image in images] == [(256, 256), (256, 256)]
    assert steps == [(1, 2), (2, 2)]
    again = generate(seeds=[11])[0]
    assert np.abs(pixels(again) - pixels(images[0])).mean() < 0.5  # alone or batched: same image
    assert np.abs(pixels(images[0]) - pixels(images[1])).mean() > 5  # another seed: another image


@pytest.mark.parametrize("size", [512, 1024])
def test_larger_sizes_render_at_that_size(size):
    assert generate(seeds=[3], size=size, steps=1)[0].size == (size, size)


def test_edit_repaints_only_the_transparent_area():
    source = picture_with_hole(256, hole=(64, 64, 192, 192))
    job = BatchJob(prompt="a window", seeds=[5], init_image=source)
    edited = pixels(edit(job))
    original = pixels(source)
    assert np.abs(edited[:64] - original[:64]).max() < 2  # opaque: kept
    assert np.abs(edited[80:176, 80:176] - original[80:176, 80:176]).mean() > 10  # hole: new


def test_edit_with_a_separate_mask_uses_the_mask_transparency():
    source = picture_with_hole(256)  # fully opaque
    mask = picture_with_hole(256, hole=(0, 128, 256, 256))  # bottom half to repaint
    assert np.asarray(repaint_mask(image=source, mask=mask))[200, 10] == 255
    job = BatchJob(prompt="grass", seeds=[5], init_image=source, mask=mask)
    edited = pixels(edit(job))
    original = pixels(source)
    assert np.abs(edited[:120] - original[:120]).max() < 2
    assert np.abs(edited[140:] - original[140:]).mean() > 10


def test_an_edit_of_another_shape_is_cropped_about_its_centre_never_stretched():
    """A 512x256 upload edited at 256x256: the kept pixels are the centre square's, scaled to
    cover (fitted), not the whole picture squeezed."""
    source = picture_with_hole(512).crop((0, 0, 512, 256))
    hole = PILImage.new("L", (512, 256), 255)
    hole.paste(0, (224, 96, 288, 160))  # a transparent square in the middle
    source.putalpha(hole)
    job = BatchJob(prompt="a window", seeds=[5], init_image=source)
    edited = edit(job)
    assert edited.size == (256, 256)
    centre = pixels(source.crop((128, 0, 384, 256)))
    assert np.abs(pixels(edited)[:64] - centre[:64]).max() < 2  # kept: the centre, unscaled
    squeezed = pixels(source.resize((256, 256)))
    assert np.abs(pixels(edited)[:64] - squeezed[:64]).mean() > 10  # not the stretched whole
    assert np.abs(pixels(edited)[104:152, 104:152] - centre[104:152, 104:152]).mean() > 10


def test_a_landscape_edit_renders_in_its_own_shape():
    source = picture_with_hole(512, hole=(192, 64, 320, 192)).crop((0, 0, 512, 256))
    job = BatchJob(prompt="a window", seeds=[5], init_image=source)
    edited = edit(job, width=512, height=256)
    assert edited.size == (512, 256)
    assert np.abs(pixels(edited)[:, :128] - pixels(source)[:, :128]).max() < 2


def vary(jobs: list[BatchJob], *, model_id: str = TINY) -> list[BatchJob]:
    """One two-step 256 px variation call on `model_id`."""
    return run_batch(
        model_id=model_id,
        operation="variation",
        width=256,
        height=256,
        steps=2,
        guidance_scale=0.0,
        jobs=jobs,
    )


def test_variations_keep_the_composition_and_differ_by_seed():
    source = picture_with_hole(256)
    job = BatchJob(prompt="", seeds=[1, 2], init_image=source)
    first, second = vary([job])[0].images
    assert first.size == (256, 256)
    assert np.abs(pixels(first) - pixels(second)).mean() > 1
    # The red top half of the upload is still redder than the bottom half.
    for variation in (first, second):
        red = pixels(variation)[:, :, 0]
        assert red[:128].mean() > red[128:].mean()


def _references(count: int) -> list[PILImage.Image]:
    rng = np.random.default_rng(count)
    return [
        PILImage.fromarray(rng.integers(0, 255, (96 + 32 * i, 128, 3), dtype=np.uint8))
        for i in range(count)
    ]


def test_reference_images_steer_variations_and_edits():
    """The tiny model's IP-Adapter is random: references must change the pixels, differently
    for other references, and the same references give the same image again."""
    source = picture_with_hole(256)

    def varied(references: list) -> np.ndarray:  # type: ignore[type-arg]
        job = BatchJob(prompt="", seeds=[3], init_image=source, references=references)
        return pixels(vary([job])[0].images[0])

    plain, one, two = varied([]), varied(_references(1)), varied(_references(2))
    assert np.abs(plain - one).mean() > 1 and np.abs(one - two).mean() > 1
    assert np.array_equal(varied(_references(2)), two)
    holed = picture_with_hole(256, hole=(64, 64, 192, 192))
    edited = edit(BatchJob(prompt="a door", seeds=[3], init_image=holed, references=_references(1)))
    unsteered = edit(BatchJob(prompt="a door", seeds=[3], init_image=holed))
    assert np.abs(pixels(edited) - pixels(unsteered))[64:192, 64:192].mean() > 1


def test_a_job_with_references_runs_alone_in_its_call():
    """diffusers repeats one set of reference embeddings over a call's images: two jobs with
    different references in one call would each be steered by both."""
    source = picture_with_hole(256)
    steered = BatchJob(prompt="", seeds=[6], init_image=source, references=_references(1))
    with pytest.raises(ValueError, match="runs alone"):
        vary([steered, BatchJob(prompt="", seeds=[7], init_image=source)])
    two = vary([BatchJob(prompt="", seeds=[6, 7], init_image=source, references=_references(1))])
    alone = vary([BatchJob(prompt="", seeds=[7], init_image=source, references=_references(1))])
    # A job's several images all get its references: image 2 of the job is seed 7 alone.
    assert np.abs(pixels(two[0].images[1]) - pixels(alone[0].images[0])).mean() < 0.5


def test_without_references_a_model_with_an_adapter_makes_the_images_it_made_without(settings):
    """A job without references goes through the adapter at scale 0, which diffusers skips."""
    plain_entry = {**settings.EASEL_MODELS[TINY]}
    plain_entry.pop("ip_adapter")
    settings.EASEL_MODELS = {**settings.EASEL_MODELS, "easel/tiny-plain": plain_entry}
    source = picture_with_hole(256)
    with_adapter = vary([BatchJob(prompt="", seeds=[9], init_image=source)])
    without = vary([BatchJob(prompt="", seeds=[9], init_image=source)], model_id="easel/tiny-plain")
    assert np.abs(pixels(with_adapter[0].images[0]) - pixels(without[0].images[0])).max() <= 1
    with pytest.raises(ValueError, match="no ip_adapter"):
        vary(
            [BatchJob(prompt="", seeds=[9], init_image=source, references=_references(1))],
            model_id="easel/tiny-plain",
        )


def test_an_adapter_from_a_local_folder_loads_as_an_operator_configures_one(settings, tmp_path):
    """The path a real model entry takes (`load_ip_adapter` from a folder: the weights file with
    its `image_proj.` and `ip_adapter.` keys, the CLIP image encoder in a subfolder), fed the
    tiny adapter's own weights: it must steer exactly as the built-in one does."""
    from safetensors.torch import save_file

    from generation.inference.references import tiny_adapter_weights, tiny_image_encoder

    encoder, _ = tiny_image_encoder()
    encoder.save_pretrained(tmp_path / "image_encoder")
    unet = build_tiny_components().unet
    weights = tiny_adapter_weights(unet, encoder.config.projection_dim)
    flat = {f"{part}.{key}": value for part, keys in weights.items() for key, value in keys.items()}
    save_file(
        {key: value.contiguous() for key, value in flat.items()}, tmp_path / "adapter.safetensors"
    )
    entry = {**settings.EASEL_MODELS[TINY]}
    entry["ip_adapter"] = {"source": str(tmp_path), "weight_name": "adapter.safetensors"}
    settings.EASEL_MODELS = {**settings.EASEL_MODELS, "easel/tiny-folder": entry}
    source = picture_with_hole(256)

    def varied(model_id: str) -> np.ndarray:  # type: ignore[type-arg]
        job = BatchJob(prompt="", seeds=[4], init_image=source, references=_references(1))
        return pixels(vary([job], model_id=model_id)[0].images[0])

    assert np.abs(varied("easel/tiny-folder") - varied(TINY)).max() <= 1


def test_cancel_between_steps_stops_the_call():
    with pytest.raises(BatchCanceled):
        generate(seeds=[1], steps=3, on_step=lambda step, total: step < 2)


def test_a_model_that_cannot_load_says_which_why_and_how_to_fix(settings, tmp_path):
    settings.EASEL_MODELS = {
        **settings.EASEL_MODELS,
        "broken/model": {
            "source": str(tmp_path / "missing"),
            "native_size": 512,
            "default_steps": 1,
            "guidance_scale": 0.0,
            "scheduler": "",
            "operations": ["generate"],
        },
    }
    pipeline_cache_clear()
    with pytest.raises(ModelUnavailable) as raised:
        pipeline_get(model_id="broken/model")
    message = str(raised.value)
    assert "'broken/model'" in message and str(tmp_path / "missing") in message
    assert "Fix:" in message and "EASEL_MODEL=easel/tiny" in message
    with pytest.raises(ModelUnavailable):  # remembered: the next job fails fast
        pipeline_get(model_id="broken/model")
    pipeline_cache_clear()


def test_unknown_model_is_a_bad_request():
    with pytest.raises(InvalidRequest) as raised:
        model_spec(model_id="nope/nothing")
    assert raised.value.param == "model"
    assert model_spec(model_id=TINY).render_size(256, 256) == (256, 256)
    assert model_spec(model_id="stabilityai/sd-turbo").render_size(256, 256) == (512, 512)
    # The short side is brought up to the native size, the shape kept.
    assert model_spec(model_id="stabilityai/sd-turbo").render_size(384, 256) == (768, 512)


@pytest.mark.slow
def test_the_gpu_benchmark_starts_on_a_cpu():
    """bench/gpu.py is run by hand on GPU machines; here it must at least start and print."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "bench/gpu.py",
            "--device",
            "cpu",
            "--size",
            "256",
            "--smoke",
            "--batches",
            "1",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert rows[0]["batch"] == 1 and rows[0]["images_per_second"] > 0


@pytest.mark.parametrize(
    ("child_index", "device_count", "device"),
    [
        (0, 0, "cpu"),  # no GPU: every child on the CPU
        (3, 0, "cpu"),
        (None, 1, "cuda:0"),  # not a pool child (a shell, the solo pool)
        (0, 4, "cuda:0"),
        (1, 4, "cuda:1"),  # one child per GPU, each on its own
        (3, 4, "cuda:3"),
        (5, 4, "cuda:1"),  # more children than GPUs: shared round-robin
    ],
)
def test_each_gpu_worker_child_is_pinned_to_its_own_device(child_index, device_count, device):
    from generation.inference.pipelines import device_for_child

    assert device_for_child(child_index=child_index, device_count=device_count) == device


@pytest.mark.parametrize("compile_on", [False, True])
def test_a_gpu_load_compiles_each_shared_unet_and_vae_decode_once_when_asked(settings, compile_on):
    """EASEL_TORCH_COMPILE wraps the UNet and the VAE's decode (most of a one-step image's work);
    the pipelines that share them share one wrapper. torch.compile is lazy, so this costs no
    compilation: what it checks is the wiring a GPU load applies."""
    from torch._dynamo.eval_frame import OptimizedModule

    from generation.inference.pipelines import _build_tiny, _optimise_for_gpu

    settings.EASEL_TORCH_COMPILE = compile_on
    text2img, img2img, inpaint = _build_tiny("cpu", torch.float32)
    decode = text2img.vae.decode  # a bound method: a new object at each read, equal to the others
    _optimise_for_gpu((text2img, img2img, inpaint))

    assert text2img.unet is img2img.unet  # from one UNet, one wrapper
    assert isinstance(text2img.unet, OptimizedModule) is compile_on
    assert isinstance(inpaint.unet, OptimizedModule) is compile_on
    assert text2img.vae is img2img.vae is inpaint.vae
    assert ("decode" in vars(text2img.vae)) is compile_on  # the wrapper set on the instance
    if compile_on:  # compiled once, not wrapped again by the second and third pipelines
        assert text2img.vae.decode._torchdynamo_orig_callable == decode
