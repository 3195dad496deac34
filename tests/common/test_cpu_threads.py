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
{start}
import cv2  # after the start: whatever it loaded is what a request or a job finds
from threadpoolctl import threadpool_info

pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
blas = {{pool["filepath"]: pool["num_threads"] for pool in pools}}
print(json.dumps({{"opencv": cv2.getNumThreads(), "blas": blas}}))
"""


def _threads(start: str) -> dict:
    """The thread counts a fresh process has after `start` (Python code; "" for none)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(start=start)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the pools have one thread anyway")
@pytest.mark.parametrize("start", list(STARTS))
def test_a_serving_process_runs_blas_and_opencv_on_one_thread(start: str) -> None:
    plain = _threads("import numpy, scipy.linalg")
    # Without the limit every OpenBLAS copy (numpy's, scipy's, OpenCV's) and OpenCV run a
    # thread per core.
    assert plain["opencv"] > 1 and min(plain["blas"].values()) > 1, plain

    started = _threads(STARTS[start])
    assert started == {"opencv": 1, "blas": dict.fromkeys(plain["blas"], 1)}
