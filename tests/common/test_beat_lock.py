"""Exactly one Celery beat: two real `celery beat` processes on Redis, one schedules and the other
waits; when the first dies the second takes over within the lock's TTL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from common.beat_lock import LOCK_KEY, beat_lock_acquire, beat_lock_renew

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lock_free():  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(LOCK_KEY)
    yield client
    client.delete(LOCK_KEY)
    for key in client.scan_iter("default*"):  # the periodic tasks the beats sent
        client.delete(key)


def test_a_second_owner_waits_and_cannot_renew(lock_free):
    assert beat_lock_acquire(owner="first", ttl=30)
    assert not beat_lock_acquire(owner="second", ttl=30, wait=0.5)
    assert not beat_lock_renew(owner="second", ttl=30)
    assert beat_lock_renew(owner="first", ttl=30)
    assert lock_free.get(LOCK_KEY) == b"first"


def _beat(log: Path, schedule: Path) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EASEL_BEAT_LOCK_TTL": "3",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ],
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(log: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"{log.name} never said {text!r}:\n{log.read_text()[-3000:]}")


def test_two_beats_one_schedules_the_other_takes_over(lock_free, tmp_path):
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _beat(first_log, tmp_path / "first-schedule")
    second = None
    try:
        _wait_for(first_log, "beat lock acquired")
        second = _beat(second_log, tmp_path / "second-schedule")
        _wait_for(second_log, "another beat holds the lock")
        time.sleep(4)  # longer than the TTL: the first renews, the second still waits
        assert "beat lock acquired" not in second_log.read_text()
        holder = lock_free.get(LOCK_KEY).decode()
        assert holder.endswith(f":{first.pid}")
        first.send_signal(signal.SIGKILL)  # dies without releasing: the TTL frees the lock
        first.wait()
        _wait_for(second_log, "beat lock acquired", timeout=30)
        assert lock_free.get(LOCK_KEY).decode().endswith(f":{second.pid}")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
