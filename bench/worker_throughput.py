"""Delivered images per second of a GPU worker, against its pipeline alone, in the same run.

    DATABASE_URL=postgres://... .venv/bin/python bench/worker_throughput.py            # CPU, tiny
    DATABASE_URL=postgres://... python bench/worker_throughput.py --device cuda --size 512

N queued jobs (real rows, credits really reserved) go through the worker's own path,
`generation.services.worker.generation_run`, on PostgreSQL and the configured storage: claim,
batch, pipeline, output screening, watermark, PNG encoding, content credentials, storage,
settlement. Three figures come from the same jobs (same prompts, seeds, size, batch) in one run:

- pipeline only: `run_batch` on the same batches, nothing else (what bench/batching.py times);
- delivered, pipelined: EASEL_WORKER_PIPELINE on (the next batch runs while a pool of CPU
  threads delivers the last one);
- delivered, serial: the same with EASEL_WORKER_PIPELINE off (each batch delivered, by the same
  pool, before the next one starts).

The three run in turns, `--rounds` times with the order rotating, so they see the same load on
a shared machine; each figure is the median of its rounds. delivered/pipeline is the worker as
configured on that device (`generation.services.deliveries.pipelining`: pipelined on a GPU,
serial on a CPU by default).

Then the time per stage per image (from one more serial run with one delivery thread, where
each stage runs alone on the machine; the indented ones are parts of the one above), the
delivery work per image (its Image row, its share of the batch's screening, marks, encoding,
content credentials, storage; not the settlement, which is per job) over the time to
PNG-encode that same image with Pillow's defaults (the floor: no design avoids encoding), and
the screening of a photo with a face over its own encode time, alone and per image of a batch.
With `--gil`, one more serial run under py-spy (`--gil`: only the thread holding the GIL is
sampled) prints the GIL-held time per image by stage and the ceiling it sets on one process:
torch's kernels, onnxruntime, zlib and mediapipe release the GIL, the ORM and Python glue do
not, so however many cores a machine has, one worker process delivers at most 1 / (that time)
images per second. With `--processes P`, P worker processes on the same device (each with its
own copy of the model, as a worker's children beyond its GPUs share a card: `device_for_child`)
then deliver P x `--jobs` jobs from the one queue at once, each claiming batches as a worker
child does, and their delivered images per second is printed beside one process's. The last
line is for scripts: `delivered/pipeline R, pipelined/serial S, delivery/encode E`.

`--device cuda` builds the SD-Turbo-sized pipeline of bench/gpu.py (random weights, fp16) and
serves it as the model `bench/sd-turbo-sized`, with a worker's GPU load steps applied
(EASEL_TORCH_COMPILE=true compiles its UNet and VAE decode); on a CPU the tiny model is used.
The bench makes its own database (test_<name>, dropped afterwards) and a temporary media folder.
"""

import argparse
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
# A worker keeps its database connections (config/settings/base.py: 60 s); the test settings'
# 0 would make every pool thread connect anew for each delivery.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # nothing is sent: the bench calls the worker
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="easel-worker-bench-"))

GPU_MODEL = "bench/sd-turbo-sized"


class Stages:
    """Seconds spent per stage, summed over threads (the delivery pool runs several at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.pictures: list = []

    recording = False  # only the serial runs' stages are kept

    def add(self, name: str, seconds: float) -> None:
        if not self.recording:
            return
        with self._lock:
            self.seconds[name] += seconds

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.pictures.clear()


STAGES = Stages()


def _timed(module, name: str, stage: str) -> None:  # type: ignore[no-untyped-def]
    original = getattr(module, name)

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            STAGES.add(stage, time.perf_counter() - started)

    setattr(module, name, wrapper)


def _instrument() -> None:
    """Wraps each stage where the worker looks it up, so the worker's own code is what runs."""
    from generation.inference import operations
    from generation.provenance import delivery, marks
    from generation.services import worker
    from moderation.services import image_screening

    original_deliver = worker.image_deliver

    def deliver(**kwargs):  # type: ignore[no-untyped-def]
        if STAGES.recording:
            STAGES.pictures.append(kwargs["picture"])
        return original_deliver(**kwargs)

    worker.image_deliver = deliver
    _timed(operations, "run_batch", "pipeline")
    # The delivery of a batch: its Image rows, its screening (one call), then each image.
    _timed(worker, "_images_create", DELIVERY_STAGES[0])
    _timed(worker, "outputs_screen", DELIVERY_STAGES[1])
    _timed(worker, "image_deliver", DELIVERY_STAGES[2])
    _timed(image_screening, "analyze_images", "  of which screening models")
    _timed(marks, "signature_draw", "    of which signature")
    _timed(marks, "watermark_embed", "    of which watermark")
    _timed(worker._JobDelivery, "content", DELIVERY_STAGES[3])
    _timed(delivery, "image_mark", "  of which marks + encode")
    _timed(delivery, "credentials_sign", "  of which C2PA")
    _timed(worker, "storage_write", "  of which storage write")
    _timed(worker, "generation_settle", "settle (per job)")


# Together: the delivery work per image (the settlement is per job, and counted apart). The
# bytes (marks, encoding, credentials) are made on the pool while the batch is screened.
DELIVERY_STAGES = (
    "image rows",
    "screening (models + decisions)",
    "store or withhold",
    "delivered bytes (beside screening)",
)
# How the stages print: each part under the stage it is part of.
STAGE_ORDER = (
    DELIVERY_STAGES[0],
    DELIVERY_STAGES[1],
    "  of which screening models",
    DELIVERY_STAGES[3],
    "  of which marks + encode",
    "    of which signature",
    "    of which watermark",
    "  of which C2PA",
    DELIVERY_STAGES[2],
    "  of which storage write",
    "settle (per job)",
)


def _model_serve(args: argparse.Namespace) -> str:
    """The model the bench runs: the SD-Turbo-sized one on a GPU, the configured (tiny) one on
    a CPU."""
    from django.conf import settings

    if args.device == "cuda":
        _gpu_model_serve(args.size)
        return GPU_MODEL
    return str(settings.EASEL_MODEL)


def _gpu_model_serve(size: int) -> None:
    """The SD-Turbo-sized pipeline of bench/gpu.py, cached as a registered model."""
    import importlib.util

    import torch
    from django.conf import settings

    from generation.inference import pipelines
    from generation.inference.registry import model_spec

    settings.EASEL_MODELS = {
        **settings.EASEL_MODELS,
        GPU_MODEL: {
            "source": "builtin:tiny",  # never loaded: the pipeline below is put in the cache
            "native_size": size,
            "default_steps": 1,
            "guidance_scale": 0.0,
            "operations": ["generate"],
        },
    }
    # bench/gpu.py by path: the bench folder is scripts, not a package.
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "bench" / "gpu.py")
    assert spec is not None and spec.loader is not None
    gpu_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_bench)
    pipe = gpu_bench.build(device="cuda", dtype=torch.float16, smoke=False)
    pipelines._optimise_for_gpu((pipe,))  # as a worker's load does: EASEL_TORCH_COMPILE applies
    pipelines._cache[GPU_MODEL] = pipelines.LoadedModel(
        spec=model_spec(model_id=GPU_MODEL),  # the registry's entry above
        device="cuda",
        dtype=torch.float16,
        text2img=pipe,
        img2img=None,
        inpaint=None,
    )


def _jobs_queue(*, user, model: str, count: int, size: int, steps: int) -> list:  # type: ignore[no-untyped-def]
    """`count` one-image jobs, queued with their credits reserved (no message: the bench calls
    the worker itself)."""
    from billing.services.credits import credits_reserve
    from generation.models import Generation

    jobs = []
    for number in range(count):
        job = Generation.objects.create(
            user=user,
            source="native_api",
            operation="generate",
            model=model,
            prompt=f"bench job {number}",
            n=1,
            size=size,
            width=size,
            height=size,
            steps=steps,
            guidance_scale=0.0,
            seed=1000 + number,
            credits_reserved=1,
            status=Generation.Status.QUEUED,
        )
        credits_reserve(user=user, generation_id=job.pk, amount=1)
        jobs.append(job)
    return jobs


def _pipeline_only(*, model: str, count: int, batch: int, size: int, steps: int) -> float:
    """Seconds for `run_batch` alone over the same prompts and seeds, in the same batches."""
    from generation.inference.operations import BatchJob, run_batch

    started = time.perf_counter()
    for first in range(0, count, batch):
        run_batch(
            model_id=model,
            operation="generate",
            width=size,
            height=size,
            steps=steps,
            guidance_scale=0.0,
            jobs=[
                BatchJob(prompt=f"bench job {number}", seeds=[1000 + number])
                for number in range(first, min(first + batch, count))
            ],
        )
    _synchronize()
    return time.perf_counter() - started


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _delivered(*, jobs: list, pipelined: bool) -> float:
    """Seconds until every job is settled, the worker taking deliveries as a worker does."""
    from django.conf import settings

    from generation.services.worker import generation_run

    configured, settings.EASEL_WORKER_PIPELINE = settings.EASEL_WORKER_PIPELINE, pipelined
    try:
        started = time.perf_counter()
        for job in jobs:  # each job's message, in queue order; most find their job already done
            generation_run(generation_id=job.pk)
        elapsed = time.perf_counter() - started
    finally:
        settings.EASEL_WORKER_PIPELINE = configured
    _succeeded(jobs)
    return elapsed


def _succeeded(jobs: list) -> None:
    from generation.models import Generation

    statuses = set(
        Generation.objects.filter(pk__in=[job.pk for job in jobs]).values_list("status", flat=True)
    )
    if statuses != {Generation.Status.SUCCEEDED}:
        raise SystemExit(f"jobs ended {statuses}, not all succeeded")


# GIL-held time by where it was held, innermost first: a sample in the settle's ORM calls is the
# settle's, whatever called it.
GIL_STAGES = (
    ("pipeline's Python", "run_batch"),
    ("settle", "generation_settle"),
    ("image rows", "_images_create"),
    ("screening", "outputs_screen"),
    ("bytes", "_JobDelivery.content"),
    ("store", "image_deliver"),
)


def _gil_stage(stack: str) -> str:
    frames = [frame.split(" (", 1)[0] for frame in stack.split(";")]
    for frame in reversed(frames):
        for stage, function in GIL_STAGES:
            if frame == function:
                return stage
    return "the rest (claim, hand-offs)"


def _py_spy() -> str:
    """py-spy beside this Python (a virtual environment's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        sys.exit("--gil needs py-spy (pip install py-spy)")
    return found


def _gil_held(jobs: list, *, rate: int = 1000) -> dict[str, float]:
    """Seconds the GIL was held, by stage, over one serial delivery of `jobs`: py-spy samples
    this process `rate` times a second and keeps the thread holding the GIL (--gil). Work that
    releases the GIL (torch's kernels, onnxruntime, zlib, mediapipe) is not in it, so the sum
    per image bounds what one process can deliver, however many cores it has."""
    spy = _py_spy()
    with tempfile.NamedTemporaryFile(suffix=".txt") as samples_file:
        command = [spy, "record", "--gil", "--nonblocking", "--rate", str(rate)]
        command += ["--format", "raw", "--output", samples_file.name, "--pid", str(os.getpid())]
        spy_process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(2)  # attached (no sample holds this thread's sleep: it released the GIL)
        _delivered(jobs=jobs, pipelined=False)
        spy_process.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
        spy_process.wait(timeout=60)
        samples: Counter[str] = Counter()  # empty when py-spy wrote nothing
        for line in Path(samples_file.name).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack:
                samples[_gil_stage(stack)] += int(count)
    return {stage: count / rate for stage, count in samples.items()}


def _gil_report(held: dict[str, float], images: int) -> None:
    per_image = {stage: seconds / images * 1000 for stage, seconds in held.items()}
    total = sum(per_image.values())
    if not total:  # py-spy could not attach (ptrace refused) or sampled nothing
        print("GIL held per image: py-spy recorded no samples")
        return
    print(f"GIL held per image (serial, py-spy --gil): {total:.1f} ms")
    for stage, ms in sorted(per_image.items(), key=lambda item: -item[1]):
        print(f"  {stage:<34} {ms:8.1f} ms")
    print(f"one process's ceiling from the GIL: {1000 / total:.0f} images/s")


def _encode_seconds(pictures: list, **options: int) -> float:
    """PNG encoding of the same pictures and nothing else; with no `options` Pillow's default
    (zlib level 6, its default strategy): the floor the delivery work is measured against."""
    started = time.perf_counter()
    for picture in pictures:
        picture.save(io.BytesIO(), format="PNG", **options)
    return time.perf_counter() - started


def _delivered_encode_seconds(pictures: list) -> float:
    """The same with the options delivered files are encoded with (marks.PNG_OPTIONS)."""
    from generation.provenance import marks

    return _encode_seconds(pictures, **getattr(marks, "PNG_OPTIONS", {}))


def _face_screening(repeats: int, batch: int) -> tuple[float, float, float]:
    """Seconds to screen skimage's astronaut (one face, 512 px) alone, per image in a batch of
    `batch` copies (how the worker screens), and to PNG-encode it (Pillow's default)."""
    from PIL import Image
    from skimage import data

    from moderation.images.analysis import analyze_image, analyze_images

    photo = Image.fromarray(data.astronaut())
    analyze_image(photo)  # loads the models
    started = time.perf_counter()
    for _ in range(repeats):
        analyze_image(photo)
    alone = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    analyze_images([photo] * batch)
    batched = (time.perf_counter() - started) / batch
    return alone, batched, _encode_seconds([photo] * repeats) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--keepdb", action="store_true")
    parser.add_argument(
        "--gil", action="store_true", help="also the GIL-held time per image (needs py-spy)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="also P worker processes on one device at once"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one of those
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if args.gil:
        _py_spy()  # before the long part of the run
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("worker_throughput.py needs DATABASE_URL (PostgreSQL)")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    settings.EASEL_BATCH_MAX_IMAGES = args.batch
    # The development signing chain (as `make run` makes it), under var/c2pa/, never committed.
    from generation.provenance.certificates import development_chain_ensure

    development_chain_ensure(folder=Path(settings.EASEL_C2PA_CERTIFICATE).parent)
    settings.MODERATION_PRELOAD = True
    databases = setup_databases(verbosity=0, interactive=False, keepdb=args.keepdb)
    try:
        _run(args)
    finally:
        from django.db import connections

        from generation.services.deliveries import deliveries_shutdown

        deliveries_shutdown()
        connections.close_all()
        teardown_databases(databases, verbosity=0, keepdb=args.keepdb)


def _run(args: argparse.Namespace) -> None:
    from django.conf import settings

    from common.cpu_threads import library_threads_limit
    from generation.inference.pipelines import pipeline_get
    from generation.inference.registry import model_spec
    from generation.services.deliveries import pipelining
    from tests.factories import UserFactory

    model = _model_serve(args)
    spec = model_spec(model_id=model)
    steps = args.steps or spec.default_steps
    loaded = pipeline_get(model_id=model)
    library_threads_limit()  # as a worker child does at its start
    _instrument()
    settings.BILLING_SIGNUP_GRANT = 10 * args.jobs * (args.rounds + 1)
    user = UserFactory()

    def queue() -> list:
        return _jobs_queue(user=user, model=model, count=args.jobs, size=args.size, steps=steps)

    # Warm every path once (first calls at this shape, the screening models, the pool).
    _delivered(jobs=queue()[: args.batch], pipelined=True)
    _pipeline_only(model=model, count=args.batch, batch=args.batch, size=args.size, steps=steps)

    # The three ways, in turns, `--rounds` times (the order rotating), so that all three see
    # the same load on a shared machine; each figure is the median of its rounds.
    seconds: dict[str, list[float]] = defaultdict(list)
    ways = {
        "pipeline": lambda: _pipeline_only(
            model=model, count=args.jobs, batch=args.batch, size=args.size, steps=steps
        ),
        "pipelined": lambda: _delivered(jobs=queue(), pipelined=True),
        "serial": lambda: _delivered(jobs=queue(), pipelined=False),
    }
    configured = "pipelined" if pipelining(device=loaded.device) else "serial"
    names = list(ways)
    for round_number in range(args.rounds):
        for name in names[round_number % 3 :] + names[: round_number % 3]:
            seconds[name].append(ways[name]())
        print(
            f"round {round_number + 1}: "
            + ", ".join(f"{name} {args.jobs / seconds[name][-1]:.2f} images/s" for name in names)
        )
    stages = _stages_alone(queue())
    encode = _encode_seconds(STAGES.pictures) / len(STAGES.pictures)
    delivered_encode = _delivered_encode_seconds(STAGES.pictures) / len(STAGES.pictures)
    face_alone, face_batched, face_encode = _face_screening(repeats=5, batch=args.batch)
    held = _gil_held(queue()) if args.gil else None
    processes_rate = _processes_rate(args, queue) if args.processes > 1 else None

    count = args.jobs
    rate = {name: count / statistics.median(values) for name, values in seconds.items()}
    images = count  # the stages are those of one run
    delivery_per_image = sum(stages.get(name, 0.0) for name in DELIVERY_STAGES) / images
    print(
        f"model {model} on {loaded.device}; {count} one-image jobs, {args.size} px, "
        f"{steps} steps, batch up to {args.batch}; {os.cpu_count()} CPUs; "
        f"medians of {args.rounds} rounds"
    )
    print(f"pipeline only:        {rate['pipeline']:8.2f} images/s")
    print(f"delivered, pipelined: {rate['pipelined']:8.2f} images/s")
    print(f"delivered, serial:    {rate['serial']:8.2f} images/s")
    print(f"the worker as configured on {loaded.device}: {configured}")
    print("time per image by stage (serial, one delivery thread):")
    print(f"  {'pipeline':<34} {stages.get('pipeline', 0.0) / images * 1000:8.1f} ms")
    print(f"  {'delivery (all of it)':<34} {delivery_per_image * 1000:8.1f} ms")
    for name in STAGE_ORDER:
        print(f"  {name:<34} {stages.get(name, 0.0) / images * 1000:8.1f} ms")
    print(f"  {'PNG encode alone':<34} {encode * 1000:8.1f} ms   (the floor: Pillow's default)")
    print(f"  {'PNG encode, delivered options':<34} {delivered_encode * 1000:8.1f} ms")
    if held is not None:
        _gil_report(held, images)
    if processes_rate is not None:
        print(
            f"delivered, {args.processes} processes: {processes_rate:8.2f} images/s "
            f"({processes_rate / rate[configured]:.2f}x one process, "
            f"{processes_rate / rate['pipeline']:.2f}x one process's pipeline only)"
        )
    print(
        f"screening a face (astronaut, 512 px): alone {face_alone * 1000:.1f} ms, "
        f"{face_alone / face_encode:.2f}x its PNG encode ({face_encode * 1000:.1f} ms); "
        f"in a batch of {args.batch} {face_batched * 1000:.1f} ms each, "
        f"{face_batched / face_encode:.2f}x"
    )
    print(
        f"delivered/pipeline {rate[configured] / rate['pipeline']:.2f}, "
        f"pipelined/serial {rate['pipelined'] / rate['serial']:.2f}, "
        f"delivery/encode {delivery_per_image / encode:.2f}"
    )


# The lines a child and the bench exchange start with this; the rest of a child's output (its
# logs) passes through.
_CHILD_LINE = "@worker-throughput "


class _Child:
    """One more worker process: this file with --child, on the bench's database; it answers
    once loaded, then once it has run the worker's task for each line of job ids (`_child`)."""

    def __init__(self, args: argparse.Namespace, database_url: str) -> None:
        command = [sys.executable, __file__, "--child", "--device", args.device]
        command += ["--size", str(args.size), "--batch", str(args.batch)]
        command += ["--processes", str(args.processes)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "DATABASE_URL": database_url},
        )

    def deliver(self, jobs: list) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(str(job.pk) for job in jobs) + "\n")
        self.process.stdin.flush()

    def answer(self) -> None:
        """Waits for the child's next answer, passing its other output through."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(_CHILD_LINE):
                return
            sys.stdout.write(line)
        raise SystemExit(f"a worker process ended with {self.process.wait()}")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=120)


def _processes_rate(args: argparse.Namespace, queue: Callable[[], list]) -> float:
    """Delivered images per second of `--processes` worker processes taking P x `--jobs` jobs
    from the one queue at once. Each warms on a batch of its own first, one at a time (warming
    together, one would claim another's warm-up jobs)."""
    from django.db import connection

    url = _database_url(connection.settings_dict["NAME"])
    children = [_Child(args, url) for _ in range(args.processes)]
    try:
        for child in children:
            child.answer()  # loaded: they load at once
        for child in children:
            child.deliver(queue()[: args.batch])
            child.answer()
        jobs = [job for _ in children for job in queue()]
        started = time.perf_counter()
        for number, child in enumerate(children):
            child.deliver(jobs[number :: len(children)])  # the order a shared queue gives them
        for child in children:
            child.answer()
        elapsed = time.perf_counter() - started
    finally:
        for child in children:
            child.stop()
    _succeeded(jobs)
    return len(jobs) / elapsed


def _database_url(name: str) -> str:
    """DATABASE_URL with the bench's own database (the test database setup made) in it."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def _child(args: argparse.Namespace) -> None:
    """A worker process for `_processes_rate`: loads the model as the bench does, then for each
    line of job ids on stdin runs the worker's task for each and answers."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from common.cpu_threads import library_threads_limit
    from generation.inference.pipelines import pipeline_get
    from generation.services.deliveries import deliveries_shutdown
    from generation.services.worker import generation_run

    settings.EASEL_BATCH_MAX_IMAGES = args.batch
    pipeline_get(model_id=_model_serve(args))
    library_threads_limit()  # as a worker child does at its start
    if args.device == "cpu":
        import torch

        # The processes share the cores: torch's threads, one per core in each, would
        # oversubscribe them (its threads spin), and the CPU figure would measure that.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.processes))
    print(_CHILD_LINE + "loaded", flush=True)
    for line in sys.stdin:
        for generation_id in line.split():
            generation_run(generation_id=generation_id)
        print(_CHILD_LINE + "delivered", flush=True)
    deliveries_shutdown()
    connections.close_all()


def _stages_alone(jobs: list) -> dict[str, float]:
    """Seconds per stage of a serial run with one delivery thread: each stage then runs alone
    on the machine (the pipeline's threads idle, no other delivery beside it), so its time is
    its own work, not its share of a contended CPU."""
    from django.conf import settings

    from generation.services.deliveries import deliveries_shutdown

    threads = settings.EASEL_DELIVERY_THREADS
    deliveries_shutdown()  # the next delivery makes a pool of the new size
    settings.EASEL_DELIVERY_THREADS = 1
    STAGES.reset()
    STAGES.recording = True
    try:
        _delivered(jobs=jobs, pipelined=False)
    finally:
        STAGES.recording = False
        deliveries_shutdown()
        settings.EASEL_DELIVERY_THREADS = threads
    return dict(STAGES.seconds)


if __name__ == "__main__":
    main()
