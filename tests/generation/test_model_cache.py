"""`manage.py models fetch`: weights put into the cache folder ahead of time, from a local folder
source (a hub source works the same way through huggingface_hub, which cannot be reached here),
and the loader then reads the fetched copy, even with the source gone and downloads forbidden."""

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from generation.inference.pipelines import pipeline_cache_clear, pipeline_get
from generation.inference.registry import model_cache_folder, model_fetched

MODEL = "test/local-folder"


def _save_tiny_pipeline(folder: Path) -> None:
    from diffusers import StableDiffusionPipeline

    from generation.inference.tiny import build_tiny_components

    parts = build_tiny_components()
    StableDiffusionPipeline(
        unet=parts.unet,
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        scheduler=parts.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)


@pytest.fixture
def local_model(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "source"
    _save_tiny_pipeline(source)
    settings.EASEL_MODEL_CACHE = str(tmp_path / "cache")
    settings.EASEL_MODELS = {
        **settings.EASEL_MODELS,
        MODEL: {
            "source": str(source),
            "native_size": 64,
            "default_steps": 1,
            "guidance_scale": 0.0,
            "scheduler": "EulerAncestralDiscreteScheduler",
            "operations": ["generate"],
        },
    }
    settings.EASEL_WORKER_MODELS = [MODEL]
    pipeline_cache_clear()
    yield source
    pipeline_cache_clear()


def fetch(*args: str) -> list[list[str]]:
    out = StringIO()
    call_command("models", "fetch", *args, stdout=out)
    return [line.split("\t") for line in out.getvalue().splitlines()]


def test_fetch_copies_the_weights_and_the_worker_loads_the_fetched_copy(local_model):
    assert not model_fetched(model_id=MODEL)
    [[model_id, outcome, files, size, folder]] = fetch()  # default: EASEL_WORKER_MODELS
    assert (model_id, outcome) == (MODEL, "fetched")
    cached = model_cache_folder(model_id=MODEL)
    assert Path(folder) == cached and int(files) >= 8 and int(size) > 100_000
    assert (cached / "model_index.json").is_file()
    assert (cached / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    marker = json.loads((cached / ".easel-fetched.json").read_text())
    assert marker["source"] == str(local_model) and marker["files"] == int(files)
    # No temporary folder is left beside it.
    assert [path.name for path in cached.parent.iterdir()] == [cached.name]

    shutil.rmtree(local_model)  # the source is gone: only the fetched copy can serve
    loaded = pipeline_get(model_id=MODEL)
    image = loaded.text2img(
        prompt="a lighthouse", num_inference_steps=1, height=64, width=64, guidance_scale=0.0
    ).images[0]
    assert image.size == (64, 64)


def test_fetch_again_keeps_a_present_copy_and_force_refetches(local_model):
    fetch("--model", MODEL)
    [[_, outcome, *_]] = fetch("--model", MODEL)
    assert outcome == "present"
    [[_, outcome, *_]] = fetch("--model", MODEL, "--force")
    assert outcome == "fetched"
    listing = StringIO()
    call_command("models", "list", stdout=listing)
    row = next(
        line.split("\t") for line in listing.getvalue().splitlines() if line.startswith(MODEL)
    )
    assert row[1:3] == [str(local_model), "yes"]


def test_the_builtin_model_needs_no_fetch(local_model):
    assert fetch("--model", "easel/tiny") == [["easel/tiny", "built-in", "0", "0", "-"]]


def test_unknown_model_or_missing_folder_fails_and_leaves_nothing(local_model, settings, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        fetch("--model", "nope/nothing")
    settings.EASEL_MODELS[MODEL]["source"] = str(tmp_path / "missing")
    with pytest.raises(CommandError, match="does not exist"):
        fetch("--model", MODEL)
    not_a_pipeline = tmp_path / "not-a-pipeline"
    not_a_pipeline.mkdir()
    (not_a_pipeline / "notes.txt").write_text("no weights here")
    settings.EASEL_MODELS[MODEL]["source"] = str(not_a_pipeline)
    with pytest.raises(CommandError, match="no model_index.json"):
        fetch("--model", MODEL)
    cache = Path(settings.EASEL_MODEL_CACHE)
    assert not model_fetched(model_id=MODEL)
    assert not cache.exists() or list(cache.iterdir()) == []
