"""The sentence model loads at process start, on a thread, not on the first request; a cheap
`prompt_screen_ready()` says when it is done (for /readyz)."""

import os
import subprocess
import sys
from pathlib import Path

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
print("cache empty:", semantic_scores.cache_info().currsize == 0, flush=True)
from moderation.services.image_screening import image_screen_ready
while not image_screen_ready() and time.monotonic() < deadline:
    time.sleep(0.2)
print("image models ready:", image_screen_ready(), flush=True)
"""


def test_the_web_entry_point_preloads_the_model_in_the_background() -> None:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MODERATION_PRELOAD": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Not loaded by the import itself (the thread does it), loaded without any prompt.
    assert "ready at import: False" in done.stdout
    assert "ready later: True" in done.stdout
    assert "cache empty: True" in done.stdout
    assert "image models ready: True" in done.stdout  # and the image screen's models too


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
