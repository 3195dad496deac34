"""Images per second with batching on and off, in the same run, with the same model.

Off: each queued one-image job is its own pipeline call (EASEL_BATCH_MAX_IMAGES=1). On:
compatible jobs share one call, up to --batch images (what generation/services/worker.py does
after claiming them). The pipeline and operations are the worker's own
(generation.inference.run_batch); the queue and database are left out, as they cost the same
either way.

    python bench/batching.py                       # tiny model, 256 px, 16 jobs, batch 8
    python bench/batching.py --size 512 --jobs 32  # on a GPU worker: the default model
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def settings_load() -> None:
    """Easel's settings when the project's packages are installed, else just the registry."""
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    try:
        django.setup()
    except ImportError:  # a bare GPU box with torch and diffusers only
        settings.configure(
            EASEL_MODELS={
                "easel/tiny": {
                    "source": "builtin:tiny",
                    "native_size": 256,
                    "default_steps": 2,
                    "guidance_scale": 0.0,
                    "scheduler": "EulerAncestralDiscreteScheduler",
                    "operations": ["generate", "edit", "variation"],
                }
            },
            EASEL_MODEL="easel/tiny",
            EASEL_TORCH_COMPILE=False,
        )


def run(*, model: str, jobs: int, batch: int, size: int, steps: int, guidance: float) -> float:
    import torch

    from generation.inference.operations import BatchJob, run_batch

    started = time.perf_counter()
    for first in range(0, jobs, batch):
        group = [
            BatchJob(prompt=f"job {number}", seeds=[number])
            for number in range(first, min(first + batch, jobs))
        ]
        run_batch(
            model_id=model,
            operation="generate",
            width=size,
            height=size,
            steps=steps,
            guidance_scale=guidance,
            jobs=group,
        )
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="registry id (default: EASEL_MODEL)")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="alternating off/on rounds")
    args = parser.parse_args()
    settings_load()
    from generation.inference.pipelines import pipeline_get
    from generation.inference.registry import model_spec

    spec = model_spec(model_id=args.model)
    steps = args.steps or spec.default_steps
    loaded = pipeline_get(model_id=spec.id)  # loaded and warmed before anything is timed
    run(
        model=spec.id,
        jobs=args.batch,
        batch=args.batch,
        size=args.size,
        steps=steps,
        guidance=spec.guidance_scale,
    )  # first call at this size and batch shape
    print(
        f"model {spec.id} on {loaded.device}; {args.jobs} one-image jobs, {args.size} px, "
        f"{steps} steps, batch up to {args.batch}"
    )
    off, on = [], []
    for _ in range(args.rounds):  # interleaved, so drift in machine load hits both alike
        off.append(
            run(
                model=spec.id,
                jobs=args.jobs,
                batch=1,
                size=args.size,
                steps=steps,
                guidance=spec.guidance_scale,
            )
        )
        on.append(
            run(
                model=spec.id,
                jobs=args.jobs,
                batch=args.batch,
                size=args.size,
                steps=steps,
                guidance=spec.guidance_scale,
            )
        )
    best_off, best_on = max(off), max(on)
    print(
        f"batching off: {best_off:8.2f} images/s   (rounds: {', '.join(f'{r:.2f}' for r in off)})"
    )
    print(f"batching on : {best_on:8.2f} images/s   (rounds: {', '.join(f'{r:.2f}' for r in on)})")
    print(f"gain: x{best_on / best_off:.2f}")


if __name__ == "__main__":
    main()
