"""Memory and event-loop lag of ONE uvicorn web process holding N OpenAI-style requests open.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/held_requests.py [--requests 200]

What it does: starts one web process (uvicorn serving config.asgi, with a lag monitor on its event
loop) and no GPU worker, so every `POST /v1/images/generations` it sends is accepted, queued and
then held, waiting on Redis pub/sub. With all N held it samples the process's memory, threads
and event-loop lag, and the database connections it keeps. Then it plays the worker: marks
every job finished and publishes it on `generation:<id>`, and times how long until all N
answers are back. Prints the figures.

Needs PostgreSQL and Redis (the production arrangement); it migrates the database it is given
and creates a throwaway customer in it.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- the web process: uvicorn plus a lag monitor on the same loop ------------------------------


def serve(port: int, stats_path: str) -> None:
    import psutil
    import uvicorn

    async def monitor() -> None:
        loop = asyncio.get_running_loop()
        process = psutil.Process()
        samples: list[float] = []
        last_write = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            samples.append(max(0.0, loop.time() - before - 0.005))  # how late the loop woke us
            if loop.time() - last_write >= 0.5:
                line = {
                    "t": time.time(),
                    "rss": process.memory_info().rss,
                    "threads": process.num_threads(),
                    "lag_max": max(samples),
                    "lag_p99": sorted(samples)[int(len(samples) * 0.99) - 1] if samples else 0.0,
                    "lag_p50": statistics.median(samples),
                    "tasks": len(asyncio.all_tasks()),
                    "thread_kinds": dict(
                        Counter(
                            t.name.rsplit("-", 1)[0].split("_")[0] for t in threading.enumerate()
                        )
                    ),
                }
                with open(stats_path, "a") as out:
                    out.write(json.dumps(line) + "\n")
                samples.clear()
                last_write = loop.time()

    async def main() -> None:
        config = uvicorn.Config(
            "config.asgi:application",
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            backlog=4096,
        )
        server = uvicorn.Server(config)
        await asyncio.gather(server.serve(), monitor())

    asyncio.run(main())


# --- the client ---------------------------------------------------------------------------------


def _window(stats_path: str, start: float, end: float) -> list[dict]:
    lines = [json.loads(line) for line in Path(stats_path).read_text().splitlines()]
    return [line for line in lines if start <= line["t"] <= end]


def _db_connections(database: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        return cursor.fetchone()[0]


async def _hold(base_url: str, secret: str, count: int) -> tuple[list, list[float]]:
    import httpx

    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=900)
    finished_at: list[float] = []

    async def one(number: int) -> int:
        response = await client.post(
            "/v1/images/generations",
            headers={"Authorization": f"Bearer {secret}"},
            json={"prompt": f"held request {number}", "size": "256x256"},
        )
        finished_at.append(time.monotonic())
        return response.status_code

    tasks = [asyncio.create_task(one(number)) for number in range(count)]
    return tasks, finished_at


async def _round(live, secret, user, count, *, hold_seconds, during_hold=None):  # type: ignore[no-untyped-def]
    """Sends `count` requests, waits until all are queued and held, holds, then releases them."""
    from asgiref.sync import sync_to_async

    from generation.models import Generation
    from generation.services.progress import progress_publish

    queued = Generation.objects.filter(user=user, status="queued")
    tasks, finished_at = await _hold(live.base_url, secret, count)
    accept_started = time.monotonic()
    while await sync_to_async(queued.count)() < count:
        if any(task.done() for task in tasks):
            answered = [task.result() for task in tasks if task.done()]
            raise RuntimeError(f"requests answered early: {answered[:5]}\n{live.log_tail()}")
        await asyncio.sleep(0.2)
    accepted_in = time.monotonic() - accept_started
    hold_start = time.time()
    await asyncio.sleep(hold_seconds)
    during = await during_hold() if during_hold else None
    hold_end = time.time()
    still_open = sum(not task.done() for task in tasks)
    # Play the GPU worker: every job ends, and is announced on its channel.
    ids = await sync_to_async(lambda: list(queued.values_list("pk", flat=True)))()
    release_started = time.monotonic()
    await sync_to_async(Generation.objects.filter(pk__in=ids).update)(status="succeeded")
    for generation_id in ids:
        await sync_to_async(progress_publish)(
            generation_id=generation_id, status="succeeded", images=[]
        )
    statuses = await asyncio.gather(*tasks)
    return {
        "accepted_in": accepted_in,
        "hold_start": hold_start,
        "hold_end": hold_end,
        "still_open": still_open,
        "during": during,
        "statuses": statuses,
        "answered_in": max(finished_at) - release_started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--hold-seconds", type=float, default=10.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.stats)
        return

    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("held_requests.py needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    from asgiref.sync import sync_to_async

    from tests.generation.live_server import live_easel_start, unlimited_customer

    user, secret = await sync_to_async(unlimited_customer)()
    stats_path = tempfile.mktemp(prefix="easel-held-", suffix=".jsonl")
    database = settings.DATABASES["default"]
    live = live_easel_start(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        settings_module="config.settings.local",
        worker=False,
        web_command=[sys.executable, __file__, "--stats", stats_path, "--serve"],
        extra_env={"EASEL_API_WAIT_TIMEOUT": "900", "DEBUG": "false"},
    )
    try:
        # Warm up: the first requests load the prompt-screening models into the web process.
        await _round(live, secret, user, 5, hold_seconds=0.5)
        idle_start = time.time()
        await asyncio.sleep(3.0)
        idle = _window(stats_path, idle_start, time.time())
        idle_connections = await sync_to_async(_db_connections)(database["NAME"])
        result = await _round(
            live,
            secret,
            user,
            args.requests,
            hold_seconds=args.hold_seconds,
            during_hold=lambda: sync_to_async(_db_connections)(database["NAME"]),
        )
        holding = _window(stats_path, result["hold_start"], result["hold_end"])
    finally:
        live.stop()
    accepted_in, still_open = result["accepted_in"], result["still_open"]
    held_connections, answered_in, statuses = (
        result["during"],
        result["answered_in"],
        result["statuses"],
    )

    def figure(rows: list[dict], key: str, pick=max) -> float:  # type: ignore[no-untyped-def]
        return pick(row[key] for row in rows)

    rss_idle = statistics.median(row["rss"] for row in idle)
    rss_held = statistics.median(row["rss"] for row in holding)
    print(
        f"held requests:              {still_open} of {args.requests} open at once "
        "(one uvicorn process)"
    )
    print(f"accepted and queued in:     {accepted_in:.2f} s")
    print(f"memory (RSS) idle:          {rss_idle / 2**20:.1f} MiB")
    print(
        f"memory (RSS) holding:       {rss_held / 2**20:.1f} MiB  "
        f"(+{(rss_held - rss_idle) / 2**10 / args.requests:.1f} KiB per held request)"
    )
    print(f"threads idle -> holding:    {figure(idle, 'threads')} -> {figure(holding, 'threads')}")
    print(f"asyncio tasks holding:      {figure(holding, 'tasks')}")
    print(f"threads by kind, holding:   {holding[-1]['thread_kinds']}")
    print(f"DB connections idle/held:   {idle_connections} / {held_connections}")
    print(
        "event-loop lag while held:  "
        f"p50 {statistics.median(r['lag_p50'] for r in holding) * 1000:.2f} ms, "
        f"p99 {figure(holding, 'lag_p99') * 1000:.2f} ms, "
        f"max {figure(holding, 'lag_max') * 1000:.2f} ms"
    )
    print(
        f"all {args.requests} answered after the publish in: {answered_in * 1000:.0f} ms "
        f"(statuses: {sorted(set(statuses))})"
    )


if __name__ == "__main__":
    main()
