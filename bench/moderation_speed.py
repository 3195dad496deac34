"""How long screening takes: prompts (p50, p99) and images (with and without a face).

    .venv/bin/python bench/moderation_speed.py              # everything
    .venv/bin/python bench/moderation_speed.py --no-images  # prompts only
    .venv/bin/python bench/moderation_speed.py --synthetic 20000   # a smaller large registry

Prompts: the labelled prompt set (moderation/data/labelled_prompts.jsonl), each screened by
- the figure matcher alone (normalisation + Aho-Corasick + person context + misspellings), with
  the starter registry and with N synthetic names (default 100,000);
- a plain regular-expression alternation of the same names over the same normalised text, in
  the same run (exact names only: no misspellings, no person context, so it does less);
- the whole text analysis (matcher + lexicons + the sentence model) with the starter registry.
Images: `moderation.images.analysis.analyze_image` (face detection, identity embedding against
a reference matrix the size of the starter registry, realism, NSFW) on skimage's astronaut
(a face) and chelsea (a cat, no face).

No database and no network are needed. Times are per item, single process; the machine's other
load is printed beside them because it moves every figure.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from moderation.text.analysis import prompt_analyse  # noqa: E402
from moderation.text.figures import FigureMatcher, RegistryEntry  # noqa: E402
from moderation.text.normalise import normalise, variants  # noqa: E402
from moderation.text.quality import STARTER_PATH, labelled_prompts  # noqa: E402

SYLLABLES = [
    "ka", "lo", "mi", "ra", "ven", "tor", "sel", "an", "dru", "fe", "gal", "hin", "jo", "kes",
    "lum", "mar", "nor", "ost", "pel", "quin", "ros", "sta", "tul", "ur", "vik", "wen", "yor",
    "zan", "bel", "cor", "dan", "eli", "fin", "gor", "hal", "isa", "jun", "kal", "lin", "mo",
]  # fmt: skip


def quantile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def percentiles(samples: list[float]) -> str:
    p50, p99 = statistics.median(samples), quantile(samples, 0.99)
    return f"p50 {p50 * 1e3:8.3f} ms   p99 {p99 * 1e3:8.3f} ms   (n={len(samples)})"


def timed(function, items, repeat: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    return timed_both(function, items, repeat)[0]


def timed_both(function, items, repeat: int = 1) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall seconds and CPU seconds (this thread's) per call. On a shared machine the wall time
    also counts waiting for a core; the CPU time is what the work itself costs."""
    wall, cpu = [], []
    for _ in range(repeat):
        for item in items:
            started, cpu_started = time.perf_counter(), time.thread_time()
            function(item)
            cpu.append(time.thread_time() - cpu_started)
            wall.append(time.perf_counter() - started)
    return wall, cpu


def line(label: str, wall: list[float], cpu: list[float]) -> str:
    return (
        f"  {label:<38} wall p50 {statistics.median(wall) * 1e6:7.1f} us  "
        f"p99 {quantile(wall, 0.99) * 1e6:8.1f} us | cpu p50 {statistics.median(cpu) * 1e6:7.1f} us"
        f"  p99 {quantile(cpu, 0.99) * 1e6:8.1f} us  (n={len(wall)})"
    )


def starter_entries() -> list[RegistryEntry]:
    entries = []
    for number, line in enumerate(STARTER_PATH.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        entries.append(
            RegistryEntry(
                number,
                row["name"],
                tuple(row.get("aliases", ())),
                tuple(row.get("ambiguous_aliases", ())),
            )
        )
    return entries


def synthetic_entries(count: int, *, seed: int = 7) -> list[RegistryEntry]:
    generator = random.Random(seed)

    def word() -> str:
        return "".join(generator.choice(SYLLABLES) for _ in range(generator.randint(2, 4)))

    names: set[str] = set()
    while len(names) < count:
        names.add(f"{word().title()} {word().title()}")
    return [RegistryEntry(i, name) for i, name in enumerate(sorted(names), 1)]


def regex_for(entries: list[RegistryEntry]) -> re.Pattern[str]:
    keys = {normalise(key) for entry in entries for key in (entry.name, *entry.aliases)} - {""}
    # Longest first, so the alternation prefers a full name over a prefix of it.
    alternation = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternation})(?![a-z0-9])")


def max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def bench_prompts(*, synthetic: int) -> None:
    prompts = [row.prompt for row in labelled_prompts()]
    normalised = [normalise(prompt) for prompt in prompts]
    print(f"prompts: {len(prompts)} from the labelled set; load average {load_average()}")

    for label, entries in (
        ("starter registry", starter_entries()),
        (f"{synthetic:,} synthetic names", synthetic_entries(synthetic)),
    ):
        rss_before = max_rss_mb()
        print(f"\n{label}: building (load average {load_average()}) ...", flush=True)
        started = time.perf_counter()
        matcher = FigureMatcher(entries)
        built = time.perf_counter() - started
        grown = max_rss_mb() - rss_before
        started = time.perf_counter()
        pattern = regex_for(entries)
        pattern.search("warm up")
        compiled = time.perf_counter() - started
        print(f"\n{label}: {matcher.size:,} figures")
        print(
            f"  build: Aho-Corasick + misspelling index {built:.2f} s "
            f"(peak memory +{grown:.0f} MB); regex compile {compiled:.2f} s"
        )
        find = matcher.find
        for prompt in prompts:  # warm: the first calls fill per-word caches
            find(variants(prompt))
        wall, cpu = timed_both(lambda prompt, find=find: find(variants(prompt)), prompts, 3)
        print(line("figure matcher (normalise + match)", wall, cpu))
        # Each prompt's fastest of 5 runs: what the work costs without the other processes'
        # interruptions (on a loaded 2-core machine a single run's p99 is mostly waiting).
        best = [
            min(timed_both(lambda p, find=find: find(variants(p)), [prompt], 5)[1])
            for prompt in prompts
        ]
        p50, p99, worst = statistics.median(best), quantile(best, 0.99), max(best)
        print(
            f"  {'  per prompt, fastest of 5 runs':<38} cpu p50 {p50 * 1e6:7.1f} us  "
            f"p99 {p99 * 1e6:8.1f} us  max {worst * 1e6:8.1f} us"
        )
        regex_wall, regex_cpu = timed_both(pattern.search, normalised, 1)
        print(line("regex alternation (match only)", regex_wall, regex_cpu))
        regex_best = [min(timed_both(pattern.search, [text], 3)[1]) for text in normalised]
        print(
            f"  {'  per prompt, fastest of 3 runs':<38} cpu p50 "
            f"{statistics.median(regex_best) * 1e6:7.1f} us  p99 "
            f"{quantile(regex_best, 0.99) * 1e6:8.1f} us"
        )
        print(
            "  matcher vs regex, same run: "
            f"{statistics.fmean(regex_cpu) / statistics.fmean(cpu):.0f}x faster (mean CPU), "
            f"{statistics.median(regex_cpu) / statistics.median(cpu):.0f}x (p50); fastest runs: "
            f"{statistics.fmean(regex_best) / statistics.fmean(best):.0f}x (mean), "
            f"{statistics.median(regex_best) / statistics.median(best):.0f}x (p50)"
        )

    from moderation.text.quality import starter_descriptions
    from moderation.text.semantic import semantic_scores

    started = time.perf_counter()
    descriptions = starter_descriptions()  # loads (or first exports) the int8 model
    seconds = time.perf_counter() - started
    print(f"\nsentence model load + {len(descriptions)} role vectors: {seconds:.1f} s")
    matcher = FigureMatcher(starter_entries())

    def analyse(prompt: str) -> None:
        prompt_analyse(prompt, matcher=matcher, descriptions=descriptions)

    analyse("warm up")
    semantic_scores.cache_clear()  # time the model, not the cache
    wall, cpu = timed_both(analyse, prompts, 1)
    print("whole text analysis, starter registry (model, lexicons, names, roles):")
    print(line("each prompt once (no cache)", wall, cpu))
    wall, cpu = timed_both(analyse, prompts, 1)
    print(line("same prompts again (cached)", wall, cpu))


def bench_images(*, repeat: int) -> None:
    print(f"\nimages: load average {load_average()}")
    try:
        from moderation.images.analysis import analyze_image
        from moderation.selectors.figures import EMBEDDING_SIZE, FigureReferences
    except ImportError as error:
        print(f"  image screening is not available here ({error}); no image figures.")
        return
    import numpy as np
    from PIL import Image
    from skimage import data

    generator = np.random.default_rng(7)
    references = FigureReferences(
        figure_ids=np.arange(1, 1628, dtype=np.int64),
        embeddings=generator.normal(0, 0.1, (1627, EMBEDDING_SIZE)).astype(np.float32),
    )
    images = {
        "with a face (astronaut, 512x512)": Image.fromarray(data.astronaut()),
        "without a face (chelsea, 451x300)": Image.fromarray(data.chelsea()),
    }
    started = time.perf_counter()
    analyze_image(images["with a face (astronaut, 512x512)"], references=references)
    print(f"  first call (loads the models): {time.perf_counter() - started:.2f} s")
    for label, image in images.items():
        samples = timed(lambda img: analyze_image(img, references=references), [image], repeat)
        print(f"  {label:<36} {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", type=int, default=100_000, help="Synthetic names.")
    parser.add_argument("--no-images", action="store_true")
    parser.add_argument("--image-repeat", type=int, default=20)
    args = parser.parse_args()
    bench_prompts(synthetic=args.synthetic)
    if not args.no_images:
        bench_images(repeat=args.image_repeat)


if __name__ == "__main__":
    main()
