"""Per-image cost of image screening, for bench/moderation_speed.py (and `python -m` here).

Times `analyze_image` (detection, embeddings, registry match, realism, NSFW) on the package
photos: a photo with one face (skimage's astronaut) and one without (skimage's cat), against a
registry of `figures` synthetic reference faces. No database: the decision row written by the
screening services adds one INSERT on top.
"""

import statistics
import time
from typing import Any

import numpy as np
from PIL import Image

# Imported inside the functions: `python -m moderation.images.benchmark` sets Django up first.
EMBEDDING_SIZE = 128


def _synthetic_references(count: int):  # type: ignore[no-untyped-def]
    from moderation.selectors.figures import FigureReferences

    # Random unit-ish vectors at the scale of real embeddings (norm ~1): far from every face.
    generator = np.random.default_rng(0)
    vectors = generator.normal(0, 0.09, size=(count, EMBEDDING_SIZE)).astype(np.float32)
    return FigureReferences(figure_ids=np.arange(count, dtype=np.int64), embeddings=vectors)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def image_screening_timings(*, repeats: int = 20, figures: int = 1000) -> dict[str, Any]:
    """Milliseconds per image (p50, p99, mean) after the models are loaded, for "with_face"
    (512x512), "with_face_1024" and "without_face"; "first_call_ms" includes loading the models;
    "stages_ms" splits the face image's cost by model."""
    from skimage import data

    from moderation.images.analysis import analyze_image

    samples = {
        "with_face": Image.fromarray(data.astronaut()),
        "with_face_1024": Image.fromarray(data.astronaut()).resize((1024, 1024)),
        "without_face": Image.fromarray(data.chelsea()),
    }
    references = _synthetic_references(figures)
    started = time.perf_counter()
    analyze_image(samples["with_face"], references=references)
    results: dict[str, Any] = {"first_call_ms": round((time.perf_counter() - started) * 1000, 1)}
    for name, image in samples.items():
        timings, cpu_timings = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            analysis = analyze_image(image, references=references)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_timings.append((time.process_time() - cpu_started) * 1000)
        results[name] = {
            "faces": len(analysis.faces),
            "size": f"{image.width}x{image.height}",
            "p50_ms": round(_percentile(timings, 0.5), 1),
            "p99_ms": round(_percentile(timings, 0.99), 1),
            "mean_ms": round(statistics.fmean(timings), 1),
            # CPU time of the process (all its threads): what the work costs when the machine
            # is shared, where wall time also counts waiting for a core.
            "cpu_p50_ms": round(_percentile(cpu_timings, 0.5), 1),
            "figures": figures,
        }
    results["stages_ms"] = _stage_timings(samples["with_face"], repeats=repeats)
    return results


def _stage_timings(image: Image.Image, *, repeats: int) -> dict[str, float]:
    """p50 CPU milliseconds of each model on one face: where the time goes."""
    from moderation.images import faces, nsfw, realism

    array = faces.image_to_array(image)
    box = faces.faces_detect(array)[0]
    stages = {
        "detect": lambda: faces.faces_detect(array),
        "embed_one_face": lambda: faces.face_embedding(array, box),
        "realism_one_face": lambda: realism.face_realism(realism.grey_image(array), box),
        "nsfw": lambda: nsfw.nsfw_score(image),
    }
    medians = {}
    for name, run in stages.items():
        timings = []
        for _ in range(repeats):
            started = time.process_time()
            run()
            timings.append((time.process_time() - started) * 1000)
        medians[name] = round(statistics.median(timings), 1)
    return medians


if __name__ == "__main__":
    import json
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    print(json.dumps(image_screening_timings(), indent=2))
