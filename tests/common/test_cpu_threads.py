"""The processes that serve hold numpy's BLAS and OpenCV to one thread each
(common/cpu_threads.py): the web's entry points and every worker child, each checked in a fresh
process through its real start (the ASGI and WSGI modules' import, Celery's own
`worker_process_init` signal)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STARTS = {
    "asgi": "import config.asgi",
    "wsgi": "import config.wsgi",
    "worker child": (
        "import django; django.setup(); import config.celery; "
        "from celery.signals import worker_process_init; worker_process_init.send(sender=None)"
    ),
}

PROBE = """
import json
import cv2
from threadpoolctl import threadpool_info

def threads():
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return {{"opencv": cv2.getNumThreads(), "blas": blas}}

before = threads()
{start}
print(json.dumps({{"before": before, "after": threads()}}))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the pools have one thread anyway")
@pytest.mark.parametrize("start", list(STARTS))
def test_a_serving_process_runs_blas_and_opencv_on_one_thread(start: str) -> None:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(start=STARTS[start])],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    # Without the limit both libraries run a thread per core (what the process had before).
    assert threads["before"]["opencv"] > 1 and max(threads["before"]["blas"]) > 1, threads
    assert threads["after"] == {"opencv": 1, "blas": [1] * len(threads["after"]["blas"])}
    assert threads["after"]["blas"], threads  # numpy's OpenBLAS was found and held
