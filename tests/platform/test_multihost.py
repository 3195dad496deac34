"""Three GPU-worker hosts on one machine: each a real Celery worker in its own network namespace
with its own hostname, reaching PostgreSQL and Redis across a veth link (tests/platform/netns.py).

What a fleet promises, checked as an operator would see it:
- jobs spread over every host, each charged once, and each host's /readyz and /metrics answer;
- killing one host's whole process tree mid-batch hands its jobs to the others once the lease
  (6 s here) lapses: each job succeeds elsewhere, settled once and charged once;
- SIGTERM drains a host: it finishes the batch it holds (no job claimed twice), says it is not
  ready while it drains, takes no new job, and exits cleanly; the others take the new jobs.

Where namespaces are not permitted the test says why, and fails under EASEL_REQUIRE_SERVICES=1
(CI) instead of skipping. The tiny model, small sizes and a short lease keep it well under two
minutes.
"""

import json
import os
import signal
import time
from typing import cast

import pytest
from django.conf import settings as django_settings

from billing.models import LedgerEntry, Reservation
from billing.selectors import balance_summary
from billing.services.credits import credits_reserve
from generation.models import Generation
from generation.selectors import generation_progress
from generation.services.generations import generation_enqueue
from moderation.text.semantic import semantic_scores
from tests.conftest import REQUIRE_SERVICES
from tests.factories import GenerationFactory, UserFactory, job_admit, limits_lifted
from tests.platform import netns

pytestmark = [
    pytest.mark.multihost,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FINAL = {"succeeded", "failed", "blocked", "canceled"}
LEASE_SECONDS = 6


@pytest.fixture(scope="module")
def fleet(django_db_setup, tmp_path_factory):  # type: ignore[no-untyped-def]
    from config.celery import app

    refused = netns.namespaces_available()
    if refused:
        message = f"multihost: network namespaces are not permitted here: {refused}"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (EASEL_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    if (
        not django_settings.REDIS_URL
        or django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        pytest.skip("needs PostgreSQL and Redis")
    import redis

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter("gpu*"):  # messages left by an earlier, interrupted run
        client.delete(key)
    folder = tmp_path_factory.mktemp("fleet")
    links = netns.links_create(count=3, tag=str(os.getpid() % 10000))
    forwarder = netns.Forwarder()
    hosts: list[netns.Host] = []
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        for link in links:
            database_port = int(django_settings.DATABASES["default"]["PORT"] or 5432)
            forwarder.forward(listen=link.host_address, port=database_port)
            forwarder.forward(listen=link.host_address, port=6379)
        hosts = [
            netns.host_start(
                link=link,
                name=f"fleet-host-{index + 1}",
                folder=folder,
                lease_seconds=LEASE_SECONDS,
            )
            for index, link in enumerate(links)
        ]
        # This process screens the prompts it submits: load that model while the hosts start.
        semantic_scores("a lighthouse")
        netns.hosts_wait_ready(hosts)
        yield hosts
    finally:
        app.conf.task_always_eager = was_eager
        for host in hosts:
            if host.process.poll() is None:
                os.killpg(host.process.pid, signal.SIGKILL)
                host.process.wait()
        forwarder.close()
        netns.links_delete(links)


@pytest.fixture(autouse=True)
def _shared_media(fleet, settings):  # type: ignore[no-untyped-def]
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.MEDIA_ROOT = str(fleet[0].log.parent / "media")


def wait_final(jobs: list[Generation], hosts: list[netns.Host], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for job in jobs:
        while True:
            job.refresh_from_db()
            if job.status in FINAL:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(host.tail() for host in hosts)
                raise AssertionError(f"{job.pk} still {job.status}\n{logs}")
            time.sleep(0.2)


def wait_running(job: Generation, *, step: int, timeout: float = 60) -> None:
    """Until the job's published progress, what its listeners see, reaches `step` (the row's
    progress comes with the heartbeat, once a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = generation_progress(generation_id=job.pk) or {}
        job.refresh_from_db()
        if state.get("status") == "running" and state["step"] >= step:
            return
        assert job.status not in FINAL, job.status_message
        time.sleep(0.05)
    raise AssertionError(f"{job.pk} never reached step {step}")


def host_of(job: Generation) -> str:
    return job.worker_id.rpartition(":")[0]


def queued_batch(user, *, count: int, steps: int) -> list[Generation]:  # type: ignore[no-untyped-def]
    """Compatible jobs, queued with one reservation each; only the first is sent. The host that
    takes it batches the others from the database (they are QUEUED), and their own messages are
    sent once that batch runs (`batch_mates_sent`), as if they had been waiting behind it."""
    jobs = []
    for index in range(count):
        job = cast(
            Generation,
            GenerationFactory(user=user, steps=steps, seed=100 + index, credits_reserved=1),
        )
        credits_reserve(user=user, generation_id=job.pk, amount=1)
        jobs.append(job)
    generation_enqueue(generation=jobs[0])
    return jobs


def batch_running(jobs: list[Generation], *, step: int) -> str:
    """Waits until one host runs the whole batch; sends the mates' messages; that host's name."""
    wait_running(jobs[0], step=step)
    for job in jobs:
        job.refresh_from_db()
    holder = host_of(jobs[0])
    assert {host_of(job) for job in jobs} == {holder}, "one host batched them all"
    for job in jobs[1:]:
        generation_enqueue(generation=job)
    return holder


def assert_settled_once(jobs: list[Generation]) -> None:
    for job in jobs:
        assert job.status == "succeeded", job.status_message
        assert job.images.filter(status="delivered").count() == job.n
        assert Reservation.objects.get(generation_id=job.pk).captured == job.n
        kinds = list(
            LedgerEntry.objects.filter(generation_id=job.pk).values_list("kind", flat=True)
        )
        assert kinds.count("capture") <= 1 and kinds.count("reserve") <= 1, kinds


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels, from Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] != name:
            continue
        if all(f'{key}="{wanted}"' in head for key, wanted in labels.items()):
            total += float(value)
    return total


def test_jobs_spread_over_every_host_and_each_host_reports_them(fleet):
    user = limits_lifted(UserFactory())  # many jobs at once: about spreading, not the limits
    before = balance_summary(user=user).balance
    # Distinct step counts: no two jobs share a pipeline call, so each is one host's work.
    jobs = [
        job_admit(
            user=user,
            source="native_api",
            operation="generate",
            prompt=f"a lighthouse {index}",
            n=1,
            size=256,
            steps=4 + index,
        )
        for index in range(6)
    ]
    wait_final(jobs, fleet)
    assert_settled_once(jobs)
    assert {host_of(job) for job in jobs} == {host.name for host in fleet}
    assert balance_summary(user=user).balance == before - 6
    for host in fleet:
        served = sum(host_of(job) == host.name for job in jobs)
        status, text = host.get("/metrics")
        assert status == 200
        delivered = metric(text, "easel_images_delivered_total", host=host.name, model="easel/tiny")
        assert delivered >= served > 0, (host.name, delivered, served)
        assert metric(text, "easel_queue_wait_seconds_count", tier="free") >= served
        assert metric(text, "easel_job_duration_seconds_count", outcome="succeeded") >= served
        assert metric(text, "easel_worker_model_loaded", model="easel/tiny") == 1
        assert host.get("/healthz")[0] == 200
        status, body = host.get("/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready"


def test_a_host_killed_mid_batch_hands_its_jobs_to_the_others(fleet):
    user = UserFactory()
    before = balance_summary(user=user).balance
    jobs = queued_batch(user, count=3, steps=30)
    holder = batch_running(jobs, step=2)
    victim = next(host for host in fleet if host.name == holder)
    os.killpg(victim.process.pid, signal.SIGKILL)  # the host's whole process tree, at once
    victim.process.wait()
    wait_final(jobs, fleet, timeout=120)
    assert_settled_once(jobs)
    for job in jobs:
        assert host_of(job) != holder, f"{job.pk} finished on the dead host?"
        assert job.attempts == 2, job.attempts
    assert balance_summary(user=user).balance == before - 3


def test_sigterm_drains_a_host(fleet):
    alive = [host for host in fleet if host.process.poll() is None]
    assert len(alive) >= 2
    user = limits_lifted(UserFactory())
    before = balance_summary(user=user).balance
    batch = queued_batch(user, count=2, steps=40)
    holder = batch_running(batch, step=2)
    draining = next(host for host in alive if host.name == holder)
    draining.process.send_signal(signal.SIGTERM)  # what Kubernetes sends the pod's main process
    seen_not_ready = False
    while draining.process.poll() is None and not seen_not_ready:
        try:
            status, body = draining.get("/readyz")
        except OSError:
            break
        if status == 503:
            assert json.loads(body)["checks"]["accepting_jobs"] == {
                "ok": False,
                "detail": "draining",
            }
            seen_not_ready = True
        time.sleep(0.1)
    later = [
        job_admit(
            user=user,
            source="native_api",
            operation="generate",
            prompt=f"after the drain {index}",
            n=1,
            size=256,
            steps=3 + index,
        )
        for index in range(2)
    ]
    assert draining.process.wait(timeout=90) == 0, draining.tail()
    assert seen_not_ready, "the draining host never said it was not ready"
    wait_final(batch + later, fleet)
    assert_settled_once(batch + later)
    for job in batch:
        assert host_of(job) == holder and job.attempts == 1  # finished there, never redelivered
    assert all(host_of(job) != holder for job in later)  # it took no new job
    assert "worker draining" in draining.log.read_text()
    assert balance_summary(user=user).balance == before - 4
