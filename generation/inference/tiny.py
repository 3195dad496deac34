"""`easel/tiny`: a tiny, randomly initialised Stable Diffusion pipeline built from configs.

Nothing is downloaded: the tokenizer gets an in-memory byte-level vocabulary, and the text
encoder, UNets, VAE and scheduler are made from small configs with fixed seeds, so every process
builds the very same weights (about 5 MB) and the same seed gives the same image everywhere.
It runs each operation through the real diffusers pipelines; the images are noise-like, which
is all tests, CI and offline demos need.
"""

from dataclasses import dataclass
from typing import Any

import torch

# One cross-attention block and block channels (32, 64): small, but the real UNet code paths.
_UNET_CONFIG: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
# Four blocks: three downsamplings, so the VAE scale factor is 8 as in real Stable Diffusion.
_VAE_CONFIG: dict[str, Any] = {
    "block_out_channels": (32, 32, 32, 32),
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "layers_per_block": 1,
    "norm_num_groups": 32,
    "sample_size": 256,
}
_TEXT_CONFIG: dict[str, Any] = {
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_size": 32,
    "intermediate_size": 37,
    "layer_norm_eps": 1e-05,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 1,
    "projection_dim": 32,
    "max_position_embeddings": 77,
}


@dataclass
class TinyComponents:
    """The parts of the tiny model; `inpaint_unet` takes 9 channels (latents, mask, image)."""

    tokenizer: Any
    text_encoder: Any
    unet: Any
    inpaint_unet: Any
    vae: Any
    scheduler: Any


def _byte_vocab() -> tuple[dict[str, int], list[str]]:
    """CLIP's byte-to-unicode alphabet, each symbol alone and as a word end: no merges needed."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    symbols = [chr(code) for code in codes]
    vocab = {"<|startoftext|>": 0, "!!pad!!": 1, "<|endoftext|>": 2}
    for symbol in symbols:
        vocab.setdefault(symbol, len(vocab))
    for symbol in symbols:
        vocab.setdefault(symbol + "</w>", len(vocab))
    return vocab, []


def build_tiny_components() -> TinyComponents:
    """Builds every part from its config with fixed seeds: the same weights in every process."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = _byte_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, pad_token="<|endoftext|>")
    tokenizer.model_max_length = 77

    torch.manual_seed(0)
    unet = UNet2DConditionModel(in_channels=4, **_UNET_CONFIG)
    torch.manual_seed(1)
    inpaint_unet = UNet2DConditionModel(in_channels=9, **_UNET_CONFIG)
    torch.manual_seed(2)
    vae = AutoencoderKL(**_VAE_CONFIG)
    torch.manual_seed(3)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), **_TEXT_CONFIG))
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        timestep_spacing="trailing",
        steps_offset=1,
    )
    for module in (unet, inpaint_unet, vae, text_encoder):
        module.eval()
    return TinyComponents(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=unet,
        inpaint_unet=inpaint_unet,
        vae=vae,
        scheduler=scheduler,
    )
