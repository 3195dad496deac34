"""The sentence model loads at process start, on a thread, not on the first request; a cheap
`prompt_screen_ready()` says when it is done, and /readyz answers 503 until then."""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from moderation.models import PublicFigure

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
from moderation.text.semantic import sentence_encoder

def readyz():
    answer = Client().get("/readyz")
    return {"status": answer.status_code, "checks": answer.json()["checks"]}

sentence_encoder()  # the sentence model is in: only the registry's part (held up) is left
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


@dataclass
class _Started:
    first: str  # the script's first line, printed while the warm-up could not finish
    rest: str
    returncode: int
    stderr: str


def _run_with_preload(script: str, database_url: str) -> _Started:
    """Runs `script` in a fresh process whose warm-up cannot finish until the script's first
    line is out: this test holds the figure table locked, so the warm-up's registry read waits
    (the real loader, held up at the database), then lets go."""
    import psycopg

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MODERATION_PRELOAD": "1",
        "DATABASE_URL": database_url,
    }
    with (
        psycopg.connect(database_url) as lock,
        tempfile.TemporaryFile("w+") as stderr,
    ):
        lock.execute(f"LOCK TABLE {PublicFigure._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        first = process.stdout.readline()
        lock.rollback()
        rest, _ = process.communicate(timeout=600)
        stderr.seek(0)
        return _Started(first, rest, process.returncode, stderr.read()[-2000:])


@pytest.mark.postgres
def test_the_web_entry_point_preloads_the_model_in_the_background(database_url) -> None:
    done = _run_with_preload(SCRIPT, database_url)
    assert done.returncode == 0, done.stderr
    # Not loaded by the import itself (the thread does it), loaded without any request: the
    # only prompt analysed is the warm-up's own sample.
    assert done.first.strip() == "ready at import: False"
    assert "ready later: True" in done.rest
    assert "cached prompts: 1" in done.rest
    assert "image models ready: True" in done.rest  # and the image screen's models too


@pytest.mark.postgres
@pytest.mark.redis
def test_readyz_is_503_until_the_warm_up_has_loaded_the_screening_models(database_url) -> None:
    done = _run_with_preload(READYZ_SCRIPT, database_url)
    assert done.returncode == 0, done.stderr
    before, after = json.loads(done.first), json.loads(done.rest.strip().splitlines()[-1])
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
