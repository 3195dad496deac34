"""Reference images: an IP-Adapter conditions an edit or variation on images sent beside it.

A model entry names its adapter in `ip_adapter` (settings.EASEL_MODELS, read as
`registry.IpAdapterSpec`): a hub id or a local folder holding IP-Adapter weights and their CLIP
image encoder, as diffusers' `load_ip_adapter` reads them, or `builtin:tiny`, a random adapter
and image encoder shaped to the tiny UNet (tests; its effect is noise, as the tiny model's images
are). The adapter is attached when the model loads (pipelines.py), so every job on that model
goes through the adapter's attention: a job with references gets their embeddings at the
configured scale, a job without gets empty ones at scale 0, which diffusers' IP-Adapter
attention skips, so its images are what they were without an adapter.

diffusers' pipelines take one set of reference embeddings per call and repeat it for every
image, so a job with references runs alone in its pipeline call (the worker never batches it);
jobs without share calls as before.
"""

from typing import Any

from PIL import Image as PILImage

from generation.inference.registry import IpAdapterSpec

# The tiny image encoder: the smallest CLIP vision tower the real code paths accept.
_TINY_IMAGE_SIDE = 32
_TINY_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "projection_dim": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": _TINY_IMAGE_SIDE,
    "patch_size": 4,
}
_IMAGE_TOKENS = 4  # what diffusers' plain IP-Adapter projection makes of one image


def tiny_image_encoder() -> tuple[Any, Any]:
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(4)  # the same weights in every process, as the tiny model's parts
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**_TINY_VISION_CONFIG)).eval()
    processor = CLIPImageProcessorPil(size=_TINY_IMAGE_SIDE, crop_size=_TINY_IMAGE_SIDE)
    return encoder, processor


def tiny_adapter_weights(unet: Any, embed_dim: int) -> dict[str, dict[str, Any]]:
    """Random adapter weights in the layout of the published IP-Adapter files: one image
    projection, and a key and value projection for each cross-attention layer, numbered as
    diffusers numbers them (1, 3, 5, ... in the order of `unet.attn_processors`)."""
    import torch

    generator = torch.Generator().manual_seed(5)
    cross_dim = unet.config.cross_attention_dim
    image_proj = {
        "proj.weight": torch.randn(cross_dim * _IMAGE_TOKENS, embed_dim, generator=generator),
        "proj.bias": torch.zeros(cross_dim * _IMAGE_TOKENS),
        "norm.weight": torch.ones(cross_dim),
        "norm.bias": torch.zeros(cross_dim),
    }
    ip_adapter = {}
    cross_attentions = [name for name in unet.attn_processors if name.endswith("attn2.processor")]
    for number, name in enumerate(cross_attentions):
        shape = unet.get_submodule(name.removesuffix(".processor")).to_k.weight.shape
        for projection in ("to_k_ip", "to_v_ip"):
            weight = torch.randn(*shape, generator=generator)
            ip_adapter[f"{2 * number + 1}.{projection}.weight"] = weight
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def references_attach(*, adapter: IpAdapterSpec, pipes: tuple[Any, ...]) -> None:
    """Loads the adapter into each distinct UNet of `pipes` and gives every pipe the image
    encoder (pipes that share a UNet, as `from_pipe` makes them, share its adapter too)."""
    loaded: dict[int, Any] = {}
    for pipe in pipes:
        if id(pipe.unet) in loaded:
            source = loaded[id(pipe.unet)]
            pipe.register_modules(
                image_encoder=source.image_encoder, feature_extractor=source.feature_extractor
            )
            continue
        if adapter.is_builtin_tiny:
            encoder, processor = tiny_image_encoder()
            pipe.register_modules(
                image_encoder=encoder.to(pipe.device, pipe.dtype), feature_extractor=processor
            )
            weights = tiny_adapter_weights(pipe.unet, encoder.config.projection_dim)
            pipe.load_ip_adapter(weights, subfolder="", weight_name="", image_encoder_folder=None)
        else:
            pipe.load_ip_adapter(
                adapter.source,
                subfolder=adapter.subfolder,
                weight_name=adapter.weight_name,
                image_encoder_folder=adapter.image_encoder_folder,
            )
        loaded[id(pipe.unet)] = pipe


def reference_embeds(
    *, pipe: Any, references: list[PILImage.Image], guidance_scale: float
) -> list[Any]:
    """`ip_adapter_image_embeds` for one pipeline call: the references' embeddings, or one empty
    embedding for a call without. diffusers repeats them for every image of the call, so a call
    has one set: a job with references runs alone. Under classifier-free guidance the
    unconditional row (zeros) comes first, as the pipeline splits them."""
    import torch

    if references:
        embeds, _ = pipe.encode_image([p.convert("RGB") for p in references], pipe.device, 1)
    else:
        dim = pipe.image_encoder.config.projection_dim
        embeds = torch.zeros(1, dim, device=pipe.device, dtype=pipe.image_encoder.dtype)
    positive = embeds[None]  # (1, references, dim)
    # The pipeline's own test for classifier-free guidance.
    guidance = guidance_scale > 1 and pipe.unet.config.time_cond_proj_dim is None
    return [torch.cat([torch.zeros_like(positive), positive]) if guidance else positive]


def adapter_arguments(
    *,
    pipe: Any,
    adapter: IpAdapterSpec | None,
    references: list[list[PILImage.Image]],
    guidance_scale: float,
) -> dict[str, Any]:
    """The IP-Adapter's arguments for one pipeline call of jobs with these `references` ({} for
    a model without an adapter), its scale set for the call: the model entry's when the job has
    references, 0 when not (diffusers then skips the adapter's attention)."""
    steered = [pictures for pictures in references if pictures]
    if steered and len(references) > 1:
        raise ValueError("a job with references runs alone in its pipeline call")
    if adapter is None:
        if steered:  # admission refuses references for such a model; a config change since
            raise ValueError("references were sent for a model with no ip_adapter configured")
        return {}
    pipe.set_ip_adapter_scale(adapter.scale if steered else 0.0)
    embeds = reference_embeds(
        pipe=pipe, references=steered[0] if steered else [], guidance_scale=guidance_scale
    )
    return {"ip_adapter_image_embeds": embeds}
