"""Transparent backgrounds: a segmentation model cuts the subject out of a rendered image.

A model entry names its remover in `background_model` (settings.EASEL_MODELS), configured like
the diffusion model: a hub id or a local folder of a `transformers` semantic-segmentation model
whose last label is the foreground (a two-label foreground/background model, or one label read
as a foreground logit), or `builtin:tiny`, a tiny random Segformer built from a config with a
fixed seed (tests; its masks are noise, which is what the tests need). Loaded once per worker
process, lazily, like the pipelines; nothing is downloaded at run time that the operator did
not configure.
"""

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage

from generation.inference.registry import BUILTIN_TINY

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class _Remover:
    model: Any
    input_side: int


_cache: dict[str, _Remover] = {}
_lock = threading.Lock()


def _tiny() -> _Remover:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    torch.manual_seed(0)  # the same weights in every process
    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        num_attention_heads=[1, 2],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        num_labels=2,
    )
    return _Remover(model=SegformerForSemanticSegmentation(config).eval(), input_side=64)


def _load(source: str) -> _Remover:
    if source == BUILTIN_TINY:
        return _tiny()
    from transformers import AutoConfig, AutoModelForSemanticSegmentation

    config = AutoConfig.from_pretrained(source)
    side = int(getattr(config, "image_size", 0) or 512)
    return _Remover(
        model=AutoModelForSemanticSegmentation.from_pretrained(source).eval(), input_side=side
    )


def _remover(source: str) -> _Remover:
    with _lock:
        if source not in _cache:
            _cache[source] = _load(source)
        return _cache[source]


def foreground_alpha(*, picture: PILImage.Image, source: str) -> PILImage.Image:
    """The subject's opacity (L, the picture's size): 255 subject, 0 background."""
    import torch

    remover = _remover(source)
    side = remover.input_side
    resized = picture.convert("RGB").resize((side, side), PILImage.Resampling.BILINEAR)
    array = (np.asarray(resized, dtype=np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
    pixels = torch.from_numpy(array.transpose(2, 0, 1)).unsqueeze(0)
    with torch.inference_mode():
        logits = remover.model(pixel_values=pixels).logits  # (1, labels, h, w)
    if logits.shape[1] == 1:
        foreground = torch.sigmoid(logits[0, 0])
    else:
        foreground = torch.softmax(logits[0], dim=0)[-1]
    mask = PILImage.fromarray((foreground.numpy() * 255).round().astype(np.uint8), mode="L")
    return mask.resize(picture.size, PILImage.Resampling.BILINEAR)


def background_remove(*, picture: PILImage.Image, source: str) -> PILImage.Image:
    """`picture` as RGBA, its background transparent."""
    cut = picture.convert("RGB")
    cut.putalpha(foreground_alpha(picture=picture, source=source))
    return cut


def backgrounds_remove(*, model_id: str, pictures: list[PILImage.Image]) -> list[PILImage.Image]:
    """A job's images with their backgrounds cut out by its model's `background_model`."""
    from generation.inference.registry import model_spec

    source = model_spec(model_id=model_id).background_model
    if not source:  # admission refuses `transparent` for such a model; a config change since
        raise ValueError(f"the model {model_id!r} has no background_model configured")
    return [background_remove(picture=picture, source=source) for picture in pictures]
