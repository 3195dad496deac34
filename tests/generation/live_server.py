"""A live Easel for client tests and benchmarks: uvicorn serving config.asgi and a real Celery
worker, as subprocesses, on PostgreSQL and Redis. Nothing is mocked: the `openai` client and
httpx talk HTTP to it, and the worker runs the tiny diffusers pipeline."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gpu_worker_argv(*, hostname: str, pool: str = "prefork", concurrency: str = "1") -> list[str]:
    """A real Celery GPU worker as the worker tests run it: by default prefork with one child
    taking one job at a time from the `gpu` queue. Without gossip, mingle and heartbeats, a worker
    another test kills is noticed only as a production one is: through the broker and the job's
    lease."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        concurrency,
        "--prefetch-multiplier",
        "1",
        "--queues",
        "gpu",
        "--loglevel",
        "INFO",
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


@dataclass
class LiveEasel:
    base_url: str
    media_root: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in self.logs
        )


def live_easel_start(
    *,
    database_url: str,
    redis_url: str,
    settings_module: str = "config.settings.test",
    worker: bool = True,
    worker_app: str = "config",
    web_command: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    log_dir: str | None = None,
) -> LiveEasel:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    media_root = tempfile.mkdtemp(prefix="easel-live-media-")
    log_dir = log_dir or tempfile.mkdtemp(prefix="easel-live-logs-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": media_root,
        "SITE_URL": base_url,
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    live = LiveEasel(base_url=base_url, media_root=media_root)
    commands = {
        "web": web_command + ["--port", str(port)]
        if web_command
        else [
            str(VENV_BIN / "uvicorn"),
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    }
    if worker:
        commands["worker"] = [
            str(VENV_BIN / "celery"),
            "-A",
            worker_app,
            "worker",
            "--queues",
            "default,gpu",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "WARNING",
            "--hostname",
            f"live-{port}@%h",
        ]
    for name, command in commands.items():
        log = Path(log_dir) / f"{name}-{port}.log"
        live.logs.append(log)
        live.processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
            )
        )
    _wait_until_serving(live)
    return live


def _wait_until_serving(live: LiveEasel, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in live.processes):
            live.stop()
            raise RuntimeError("a live Easel process exited early:\n" + live.log_tail())
        try:
            if httpx.get(f"{live.base_url}/v1/models", timeout=2).status_code == 401:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    live.stop()
    raise RuntimeError("the live Easel did not start in time:\n" + live.log_tail())


def unlimited_customer(*, credits: int = 1_000_000):  # type: ignore[no-untyped-def]
    """A customer whose tier limits nothing (benchmarks), with credits. Needs Django set up."""
    from accounts.models import Tier
    from accounts.services.api_keys import api_key_create
    from billing.services.credits import credits_adjust
    from tests.factories import UserFactory

    tier, _ = Tier.objects.update_or_create(
        name="bench-unlimited",
        defaults={
            "display_name": "Benchmarks",
            "is_public": False,
            "sort_order": 99,
            "monthly_credits": 0,
            "requests_per_minute": 1_000_000,
            "images_per_minute": 1_000_000,
            "concurrent_jobs": 1_000_000,
            "queue_lane": 2,
            "max_n": 10,
            "max_pixels": 1792 * 1024,
            "uploads_allowed": True,
            "face_uploads_allowed": False,
            "private_images_allowed": True,
        },
    )
    import uuid

    user = UserFactory.create(tier=tier, email=f"bench-{uuid.uuid4().hex}@example.com")
    staff = UserFactory.create(is_staff=True, email=f"bench-staff-{uuid.uuid4().hex}@example.com")
    credits_adjust(user=user, amount=credits, actor=staff, reason="benchmark credits")
    return user, api_key_create(user=user, name="bench").secret
