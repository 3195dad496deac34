"""A GPU worker takes no job until its children have warmed EASEL_WORKER_MODELS
(common/celery_worker.py, GpuQueuesAfterWarmUp), checked on real `celery -A config worker`
processes (prefork, one child, as the GPU workers and `make run` run), real PostgreSQL and each
broker in turn, with the real loader. The slow model is the tiny weights warmed at 2048 px
(tests/common/warm_up_worker_settings.py): its warm-up genuinely takes seconds of CPU, long after
the worker has connected and announced itself ready, which is when it used to start consuming.

- A job sent while the worker warms stays on the broker: its message is still there every time
  the worker's /readyz says the slow model is not loaded, Celery logs it received only after the
  child logged that model loaded, and then it runs on that worker. Before, the worker took it at
  once and it waited inside `pipeline_get` for the load.
- A model that cannot be loaded ends the warm-up too: the worker consumes, a job for the other
  model succeeds, /readyz stays 503 naming the model, and the log says why it consumed anyway.
- SIGTERM during the warm-up: the worker drains and exits without ever consuming its GPU queue;
  the job stays queued on the broker for another worker.
- The pool's processes are counted from the pool (tiny model only: these are about the count, not
  the wait). `--pool solo --concurrency 2` is one process: /readyz turns 200 and says 1 (before, it
  waited for 2 loads forever). `--concurrency auto` is resolved by Celery after `worker_init`: the
  worker holds its GPU queue until all its children have warmed, and /readyz and /metrics count
  them (before, the `worker_init` handler raised on "auto", and the worker consumed at once with a
  /readyz that checked no model).
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from billing.services.credits import credits_reserve
from generation.models import Generation
from generation.services.generations import generation_enqueue
from tests.common.warm_up_worker_settings import (
    SLOW_WARM_MODEL,
    UNLOADABLE_MODEL,
    filesystem_broker_options,
)
from tests.conftest import celery_broker, rabbitmq_url
from tests.factories import GenerationFactory, UserFactory
from tests.generation.live_server import free_port, gpu_worker_argv

pytestmark = [
    pytest.mark.redis,  # the cache (and the Redis broker case) is on Redis with every broker
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"succeeded", "failed", "blocked", "canceled"}
RECEIVED = re.compile(r"Task generation\.run\[[0-9a-f-]+\] received")


@dataclass
class GpuWorker:
    process: subprocess.Popen
    log: Path
    port: int
    name: str

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str) -> float:
        """The value of one sample (a metric without labels) of the worker's /metrics."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            families = text_string_to_metric_families(answer.read().decode())
            samples = {
                sample.name: sample.value for family in families for sample in family.samples
            }
        return samples[name]

    def wait_logged(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            assert self.process.poll() is None, self.text()[-4000:]
            assert time.monotonic() < deadline, f"never logged {text!r}:\n{self.text()[-4000:]}"
            time.sleep(0.1)

    def readyz_within(self, timeout: float) -> tuple[int, dict[str, Any]]:
        """/readyz once it answers 200, else its last answer after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        answer = self.get("/readyz")
        while answer[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = self.get("/readyz")
        return answer

    def wait_announced(self, timeout: float = 120) -> None:
        """Until the probe server answers: Celery's `worker_ready` has fired, so the consumer
        and its event loop are running (where the old worker consumed every queue)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.text()[-4000:]
            with contextlib.suppress(OSError):
                if self.get("/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"the worker's probes never answered:\n{self.text()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def gpu_worker_start(
    *,
    folder: Path,
    models: list[str],
    broker_env: dict[str, str],
    pool: str = "prefork",
    concurrency: str = "1",
) -> GpuWorker:
    database = django_settings.DATABASES["default"]
    metrics = folder / "metrics"
    metrics.mkdir(exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.common.warm_up_worker_settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/"
            f"{database['NAME']}"
        ),
        "REDIS_URL": django_settings.REDIS_URL,
        "MEDIA_ROOT": str(folder / "media"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "HF_HUB_OFFLINE": "1",
        "EASEL_LANE_PROMOTE_AFTER_SECONDS": "3600",
        "EASEL_WORKER_MODELS": ",".join(models),
        "EASEL_WORKER_PROBE_HOST": "127.0.0.1",
        "EASEL_WORKER_PROBE_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # how the main process sees its child's loads
        **broker_env,
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    name = f"warm-{uuid.uuid4().hex[:8]}"
    log = folder / f"{name}.log"
    process = subprocess.Popen(
        gpu_worker_argv(hostname=f"{name}@%h", pool=pool, concurrency=concurrency),
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return GpuWorker(process=process, log=log, port=port, name=name)


@contextlib.contextmanager
def sending_to(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    """This process sends to the `kind` broker; yields what a worker's environment needs for it.
    The queue starts empty: messages of an earlier, interrupted run would be taken as ours."""
    from config.celery import app

    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        if kind == "filesystem":
            with celery_broker("filesystem://"):
                app.conf.broker_transport_options = filesystem_broker_options(str(folder))
                for part in ("queue", "processed", "control"):
                    (folder / part).mkdir(parents=True, exist_ok=True)
                yield {"EASEL_TEST_BROKER_FOLDER": str(folder)}
        else:
            url = django_settings.REDIS_URL if kind == "redis" else rabbitmq_url()
            if url is None:
                pytest.skip("needs RabbitMQ")  # the rabbitmq marker already failed it in CI
            with celery_broker(url):
                _gpu_queue_purged()
                yield {"BROKER_URL": url}
    finally:
        app.conf.task_always_eager = was_eager


def _gpu_queue_purged() -> None:
    from config.celery import app

    with app.connection_for_write() as connection, contextlib.suppress(Exception):
        connection.default_channel.queue_purge("gpu")  # not declared yet: nothing to empty


def gpu_messages_waiting() -> int:
    """Messages on the broker's `gpu` queue that no worker has taken (all priorities)."""
    from amqp.exceptions import ChannelError

    from config.celery import app

    with app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(queue="gpu", passive=True)
        except ChannelError:  # Redis keeps no empty list: a queue emptied is a queue gone
            return 0
        return declared.message_count


def job_queued() -> Generation:
    """A queued tiny-model job with its credit reserved; its message is not sent yet."""
    user = UserFactory()
    job = cast(Generation, GenerationFactory(user=user, credits_reserved=1))
    credits_reserve(user=user, generation_id=job.pk, amount=1)
    return job


def received_at(log: str) -> int:
    """Where the worker's log says Celery received the job's message (it must say so)."""
    received = RECEIVED.search(log)
    assert received, log[-4000:]
    return received.start()


def wait_final(job: Generation, worker: GpuWorker, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while job.status not in FINAL:
        assert time.monotonic() < deadline, f"{job.pk} still {job.status}\n{worker.text()[-4000:]}"
        time.sleep(0.2)
        job.refresh_from_db()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("redis"),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("filesystem"),  # `make run` without Redis: no event loop, a timer thread
    ],
)
def test_a_job_sent_while_the_worker_warms_waits_on_the_broker_until_it_is_warm(kind, tmp_path):
    slow_check = f"model:{SLOW_WARM_MODEL}"
    with sending_to(kind, tmp_path / "broker") as broker_env:
        job = job_queued()
        worker = gpu_worker_start(
            folder=tmp_path, models=["easel/tiny", SLOW_WARM_MODEL], broker_env=broker_env
        )
        try:
            worker.wait_announced()
            generation_enqueue(generation=job)  # sent while the child warms
            # The broker's count, each time the worker's /readyz then said the slow model was
            # still loading (counted first: the worker consumes only after it has loaded).
            while_loading = []
            deadline = time.monotonic() + 240
            while job.status not in FINAL:
                waiting = gpu_messages_waiting()
                status, report = worker.get("/readyz")
                if not report["checks"][slow_check]["ok"]:
                    while_loading.append(waiting)
                assert time.monotonic() < deadline, worker.text()[-4000:]
                time.sleep(0.2)
                job.refresh_from_db()
            ready, _ = worker.get("/readyz")
        finally:
            worker.stop()
    log = worker.text()
    assert job.status == "succeeded", job.status_message
    assert while_loading, "the slow model had loaded before the job was sent: nothing shown"
    assert set(while_loading) == {1}, while_loading  # it stayed on the broker all along
    loaded = log.index(f"model {SLOW_WARM_MODEL} loaded")
    consuming = log.index("warm-up ended in all 1 worker processes; consuming gpu")
    assert loaded < consuming < received_at(log), log[-4000:]
    assert ready == 200


def test_a_model_that_cannot_load_does_not_keep_the_worker_from_its_jobs(tmp_path):
    with sending_to("redis", tmp_path / "broker") as broker_env:
        job = job_queued()
        generation_enqueue(generation=job)  # waiting on the broker before the worker starts
        worker = gpu_worker_start(
            folder=tmp_path, models=["easel/tiny", UNLOADABLE_MODEL], broker_env=broker_env
        )
        try:
            wait_final(job, worker)
            status, report = worker.get("/readyz")
        finally:
            worker.stop()
    log = worker.text()
    assert job.status == "succeeded", job.status_message
    assert status == 503
    assert report["checks"]["model:easel/tiny"]["ok"] is True
    assert report["checks"][f"model:{UNLOADABLE_MODEL}"] == {
        "ok": False,
        "detail": "loaded in 0 of 1 worker processes",
    }
    assert f"The model '{UNLOADABLE_MODEL}'" in log  # the loader's explanation, in the child
    assert "but 1 could not load every model of EASEL_WORKER_MODELS" in log
    assert "consuming gpu anyway" in log


def test_a_worker_drained_while_it_warms_never_takes_a_job(tmp_path):
    with sending_to("redis", tmp_path / "broker") as broker_env:
        job = job_queued()
        generation_enqueue(generation=job)  # waiting as the worker starts: the old one took it
        worker = gpu_worker_start(
            folder=tmp_path, models=["easel/tiny", SLOW_WARM_MODEL], broker_env=broker_env
        )
        try:
            worker.wait_announced()
            worker.process.send_signal(signal.SIGTERM)  # what Kubernetes sends, mid warm-up
            exit_code = worker.process.wait(timeout=120)
            waiting = gpu_messages_waiting()
        finally:
            worker.stop()
            _gpu_queue_purged()
    log = worker.text()
    assert exit_code == 0, log[-4000:]
    assert "draining during warm-up: gpu never consumed" in log, log[-4000:]
    assert not RECEIVED.search(log), log[-4000:]
    assert waiting == 1  # still there for a warm worker
    job.refresh_from_db()
    assert job.status == "queued"


def test_a_solo_worker_counts_one_process_whatever_its_concurrency_says(tmp_path):
    with sending_to("redis", tmp_path / "broker") as broker_env:
        worker = gpu_worker_start(
            folder=tmp_path,
            models=["easel/tiny"],
            broker_env=broker_env,
            pool="solo",
            concurrency="2",  # ignored by the solo pool: its one process is the worker's own
        )
        try:
            worker.wait_logged("warm-up ended in all 1 worker processes; consuming gpu")
            status, report = worker.readyz_within(10)
            processes = worker.metric("easel_worker_processes")
        finally:
            worker.stop()
    assert status == 200, report
    assert report["checks"]["model:easel/tiny"] == {
        "ok": True,
        "detail": "loaded in 1 of 1 worker processes",
    }
    assert processes == 1


def test_a_worker_with_concurrency_auto_takes_no_job_until_its_children_have_warmed(tmp_path):
    with sending_to("redis", tmp_path / "broker") as broker_env:
        job = job_queued()
        generation_enqueue(generation=job)  # waiting on the broker before the worker starts
        worker = gpu_worker_start(
            folder=tmp_path, models=["easel/tiny"], broker_env=broker_env, concurrency="auto"
        )
        try:
            wait_final(job, worker)
            status, report = worker.readyz_within(30)
            processes = worker.metric("easel_worker_processes")
        finally:
            worker.stop()
    log = worker.text()
    resolved = re.search(r"worker_concurrency='auto' resolved to (\d+)", log)
    assert resolved, log[-4000:]
    children = int(resolved[1])
    assert job.status == "succeeded", job.status_message
    consuming = f"warm-up ended in all {children} worker processes; consuming gpu"
    assert consuming in log, log[-4000:]
    assert log.index(consuming) < received_at(log), log[-4000:]
    assert status == 200, report
    assert report["checks"]["model:easel/tiny"] == {
        "ok": True,
        "detail": f"loaded in {children} of {children} worker processes",
    }
    assert processes == children
    assert "Traceback" not in log, log[-4000:]  # the worker_init handler used to raise on "auto"
