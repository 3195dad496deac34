"""Delivered images per second of a fleet of GPU-worker hosts, 1 host and then N, in one run.

Each host is a real Celery worker (prefork, one child) in its own network namespace with its own
hostname, reaching PostgreSQL and Redis across a veth link (tests/platform/netns.py), so every
job takes the production path: claim, batch, pipeline, output screening, watermark, storage,
settle. "Delivered" is images stored and charged, from the first claim to the last settle, and
each host's own `easel_images_delivered_total` is read from its /metrics to show the spread.
This is the figure docs/deploy.md sizes a fleet with. Needs root (namespaces), PostgreSQL and
Redis:

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/fleet.py --hosts 3 --jobs 24

The last line reads `delivered R1 images/s with 1 host, RN with N hosts, scaling S` for scripts.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _run(*, host_count: int, jobs: int, size: int, steps: int, folder: Path) -> float:
    from django.conf import settings
    from django.db.models import Max, Min

    from generation.models import Generation
    from generation.services.admission import admission_admit
    from tests.generation.live_server import unlimited_customer
    from tests.platform import netns

    user, _ = unlimited_customer()
    links = netns.links_create(count=host_count, tag=str(os.getpid() % 10000))
    forwarder = netns.Forwarder()
    hosts: list[netns.Host] = []
    try:
        for link in links:
            forwarder.forward(
                listen=link.host_address, port=int(settings.DATABASES["default"]["PORT"] or 5432)
            )
            forwarder.forward(listen=link.host_address, port=6379)
        hosts = [
            netns.host_start(
                link=link, name=f"bench-host-{index + 1}", folder=folder, lease_seconds=60
            )
            for index, link in enumerate(links)
        ]
        netns.hosts_wait_ready(hosts, timeout=300)
        created = [
            admission_admit(
                user=user,
                source="native_api",
                operation="generate",
                prompt=f"a lighthouse, take {number}",
                n=1,
                size=size,
                steps=steps,
            ).generation.pk
            for number in range(jobs)
        ]
        deadline = time.monotonic() + 1800
        while Generation.objects.filter(pk__in=created, finished_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not finish in 30 minutes")
            time.sleep(0.5)
        done = Generation.objects.filter(pk__in=created)
        span = done.aggregate(first=Min("started_at"), last=Max("finished_at"))
        delivered = sum(done.values_list("credits_captured", flat=True))
        seconds = (span["last"] - span["first"]).total_seconds()
        spread = []
        for host in hosts:
            _, text = host.get("/metrics")
            count = sum(
                float(line.rpartition(" ")[2])
                for line in text.splitlines()
                if line.startswith("easel_images_delivered_total{")
            )
            spread.append(f"{host.name} {count:.0f}")
        rate = delivered / seconds
        print(
            f"hosts={host_count} jobs={jobs} size={size} steps={steps}: {delivered} images "
            f"delivered in {seconds:.1f} s = {rate:.2f} images/s ({', '.join(spread)})"
        )
        return rate
    finally:
        for host in hosts:
            if host.process.poll() is None:
                os.killpg(host.process.pid, signal.SIGTERM)
        for host in hosts:
            try:
                host.process.wait(timeout=60)
            except Exception:
                os.killpg(host.process.pid, signal.SIGKILL)
        forwarder.close()
        netns.links_delete(links)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("fleet.py needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    from tests.platform import netns

    refused = netns.namespaces_available()
    if refused:
        sys.exit(f"fleet.py needs network namespaces: {refused}")
    call_command("migrate", verbosity=0)
    folder = Path(tempfile.mkdtemp(prefix="easel-fleet-bench-"))
    (folder / "1").mkdir()
    (folder / "n").mkdir()
    one = _run(host_count=1, jobs=args.jobs, size=args.size, steps=args.steps, folder=folder / "1")
    many = _run(
        host_count=args.hosts, jobs=args.jobs, size=args.size, steps=args.steps, folder=folder / "n"
    )
    print(
        f"delivered {one:.2f} images/s with 1 host, {many:.2f} with {args.hosts} hosts, "
        f"scaling {many / one:.2f}"
    )


if __name__ == "__main__":
    main()
