"""The sentence model loads at process start, on a thread, not on the first request; a cheap
`prompt_screen_ready()` says when it is done, and /readyz answers 503 until then."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import time
import config.asgi  # what uvicorn imports: starts the preload
from moderation.services.screening import prompt_screen_ready
from moderation.text.semantic import semantic_scores

print("ready at import:", prompt_screen_ready(), flush=True)
deadline = time.monotonic() + 300
while not prompt_screen_ready() and time.monotonic() < deadline:
    time.sleep(0.2)
print("ready later:", prompt_screen_ready(), flush=True)
print("cached prompts:", semantic_scores.cache_info().currsize, flush=True)
from moderation.services.image_screening import image_screen_ready
while not image_screen_ready() and time.monotonic() < deadline:
    time.sleep(0.2)
print("image models ready:", image_screen_ready(), flush=True)
"""


READYZ_SCRIPT = """
import json
import time
import config.asgi  # what uvicorn imports: starts the warm-up
from django.test import Client
from moderation.services.image_screening import image_screen_ready
from moderation.services.screening import prompt_screen_ready

def readyz():
    answer = Client().get("/readyz")
    return {"status": answer.status_code, "checks": answer.json()["checks"]}

print(json.dumps(readyz()), flush=True)
deadline = time.monotonic() + 300
while not (prompt_screen_ready() and image_screen_ready()) and time.monotonic() < deadline:
    time.sleep(0.2)
print(json.dumps(readyz()), flush=True)
"""


@pytest.fixture
def database_url(django_db_setup) -> str:  # type: ignore[no-untyped-def]
    """The test database, for a process of its own: the warm-up reads the registry from it."""
    database = settings.DATABASES["default"]
    host = f"{database['HOST']}:{database['PORT'] or 5432}"
    return f"postgres://{database['USER']}@{host}/{database['NAME']}"


def _run_with_preload(script: str, database_url: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MODERATION_PRELOAD": "1",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.postgres
def test_the_web_entry_point_preloads_the_model_in_the_background(database_url) -> None:
    done = _run_with_preload(SCRIPT, database_url)
    assert done.returncode == 0, done.stderr[-2000:]
    # Not loaded by the import itself (the thread does it), loaded without any request: the
    # only prompt analysed is the warm-up's own sample.
    assert "ready at import: False" in done.stdout
    assert "ready later: True" in done.stdout
    assert "cached prompts: 1" in done.stdout
    assert "image models ready: True" in done.stdout  # and the image screen's models too


@pytest.mark.postgres
@pytest.mark.redis
def test_readyz_is_503_until_the_warm_up_has_loaded_the_screening_models(database_url) -> None:
    done = _run_with_preload(READYZ_SCRIPT, database_url)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert before["status"] == 503
    assert before["checks"]["prompt_screening"]["ok"] is False
    assert before["checks"]["database"]["ok"] and before["checks"]["broker"]["ok"]
    assert after["status"] == 200, after
    assert all(check["ok"] for check in after["checks"].values())
    assert set(after["checks"]) == {"database", "broker", "prompt_screening", "image_screening"}


def test_preloading_is_off_when_the_setting_says_so() -> None:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MODERATION_PRELOAD": "0",
    }
    script = (
        "import config.asgi, threading\n"
        "print(any(t.name.startswith('moderation-') for t in threading.enumerate()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
