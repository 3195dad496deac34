"""GPU throughput of an SD-Turbo-sized pipeline, with random weights (no download).

The UNet, VAE and text encoder are built from SD-Turbo's published configs (Stable Diffusion 2.1
architecture: UNet 865 M parameters, OpenCLIP ViT-H text encoder, the SD VAE), so the work per
image is the real one: one denoising step at 512x512 is about 3.4 TFLOP (UNet 0.8, VAE decode
2.5, text 0.05). Prints images per second at each batch size, with and without torch.compile,
and the share of the GPU's dense fp16 peak that implies.

    python bench/gpu.py                          # on a GPU: 512 px, batch 1 and 8, eager + compile
    python bench/gpu.py --device cpu --size 256  # reduced mode: proves it starts, on a CPU
    python bench/gpu.py --smoke                  # narrow layers: seconds, for the test suite
"""

import argparse
import json
import sys
import time

import torch

# SD-Turbo (stabilityai/sd-turbo) unet/config.json, vae/config.json, text_encoder/config.json.
UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
    "norm_num_groups": 32,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 768,
}
TEXT = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "projection_dim": 512,
    "hidden_act": "gelu",
    "max_position_embeddings": 77,
}
TFLOP_PER_IMAGE_512 = 3.4  # UNet 0.8 + VAE decode 2.5 + text 0.05, one step
# Dense fp16/bf16 tensor-core peaks (TFLOP/s), by a piece of the device name.
PEAKS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "T4": 65.0,
}


def smoke_configs() -> tuple[dict, dict, dict]:
    """The same architecture, narrow: for a test that the script starts, not for figures."""
    unet = {
        **UNET,
        "block_out_channels": (32, 32, 64, 64),
        "attention_head_dim": (2, 2, 4, 4),
        "cross_attention_dim": 32,
    }
    vae = {**VAE, "block_out_channels": (32, 32, 32, 32), "layers_per_block": 1}
    text = {
        **TEXT,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "projection_dim": 32,
    }
    return unet, vae, text


def build(*, device: str, dtype: torch.dtype, smoke: bool):  # type: ignore[no-untyped-def]
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    sys.path.insert(0, ".")
    from generation.inference.tiny import build_tiny_components  # the offline byte tokenizer

    unet_config, vae_config, text_config = smoke_configs() if smoke else (UNET, VAE, TEXT)
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**unet_config).to(dtype)
        vae = AutoencoderKL(**vae_config).to(dtype)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_config)).to(dtype)
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_tiny_components().tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    if device == "cuda":
        from diffusers.models.attention_processor import AttnProcessor2_0

        pipe.unet.set_attn_processor(AttnProcessor2_0())  # PyTorch's scaled-dot-product attention
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    return pipe


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def images_per_second(
    pipe, *, batch: int, size: int, device: str, iterations: int, warmup: int
) -> float:  # type: ignore[no-untyped-def]
    def call() -> None:
        pipe(
            prompt=["a photo of a red fox in the snow"] * batch,
            num_inference_steps=1,
            guidance_scale=0.0,
            height=size,
            width=size,
            output_type="pt",
        )

    with torch.inference_mode():
        for _ in range(warmup):
            call()
        synchronize(device)
        started = time.perf_counter()
        for _ in range(iterations):
            call()
        synchronize(device)
    return batch * iterations / (time.perf_counter() - started)


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAKS.items():
        if key in name:
            return value
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", choices=["both", "off", "on"], default="both")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's dense fp16 peak"
    )
    parser.add_argument("--smoke", action="store_true", help="narrow layers (a start-up test)")
    args = parser.parse_args()
    if args.device == "cpu":  # the reduced mode: fp32, one short pass, no compile by default
        dtype = torch.float32
        if args.compile == "both":
            args.compile = "off"
        args.iterations, args.warmup = min(args.iterations, 1), min(args.warmup, 1)
    else:
        dtype = torch.float16
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    peak = peak_tflops(name, args.peak_tflops)
    flop_per_image = TFLOP_PER_IMAGE_512 * (args.size / 512) ** 2  # everything scales with pixels
    print(f"device: {name}; {args.size}x{args.size}, 1 step, {dtype}; smoke={args.smoke}")
    started = time.perf_counter()
    pipe = build(device=args.device, dtype=dtype, smoke=args.smoke)
    print(
        f"built in {time.perf_counter() - started:.1f} s; UNet parameters: "
        f"{sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.0f} M"
    )
    modes = {"both": [False, True], "off": [False], "on": [True]}[args.compile]
    results = []
    for compiled in modes:
        if compiled:
            started = time.perf_counter()
            pipe.unet = torch.compile(pipe.unet, mode="default")
            pipe.vae.decode = torch.compile(pipe.vae.decode, mode="default")
        for batch in [int(b) for b in args.batches.split(",")]:
            begun = time.perf_counter()
            rate = images_per_second(
                pipe,
                batch=batch,
                size=args.size,
                device=args.device,
                iterations=args.iterations,
                warmup=args.warmup,
            )
            share = rate * flop_per_image / peak if peak else None
            row = {
                "device": name,
                "size": args.size,
                "batch": batch,
                "compile": compiled,
                "images_per_second": round(rate, 2),
                "share_of_peak": None if share is None else round(share, 3),
                "wall_seconds": round(time.perf_counter() - begun, 1),
            }
            results.append(row)
            shown = "n/a" if share is None else f"{share:.1%} of {peak:.0f} TFLOP/s"
            print(
                f"batch {batch:2d} compile={'on ' if compiled else 'off'}: {rate:8.2f} images/s  "
                f"({flop_per_image:.2f} TFLOP/image: {shown})",
                flush=True,
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
