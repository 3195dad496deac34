"""`make run`'s supervisor (common/supervisor.py) in a real process: a child killed with SIGKILL
comes back after its backoff with a line in the log, a crashing one backs off further, the
others are left alone, and SIGINT (Ctrl-C) stops every one of them."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.supervisor import procfile_read

ROOT = Path(__file__).resolve().parents[2]


def test_the_real_procfile_lists_what_make_run_starts():
    processes = procfile_read(ROOT / "platform" / "Procfile")
    assert {"web", "worker", "beat"} <= set(processes)
    assert "common.supervisor" in (ROOT / "Makefile").read_text()


def test_a_bad_procfile_line_is_refused(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\n\nweb: run-me\nno command here\n")
    with pytest.raises(ValueError, match="Procfile:4"):
        procfile_read(procfile)


def _wait_for(log: Path, pattern: str, *, after: int = 0, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text()[after:])
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared:\n{log.read_text()[-3000:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_child_is_restarted_and_ctrl_c_stops_them_all(tmp_path):
    sleep = f"{sys.executable} -c 'import time; print(\"up\", flush=True); time.sleep(600)'"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"sleeper: {sleep}\n"
        f"steady: {sleep}\n"
        f"crasher: {sys.executable} -c 'raise SystemExit(3)'\n"
        f"unused: {sleep}\n"
    )
    log = tmp_path / "supervisor.log"
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "common.supervisor", "-f", str(procfile), "sleeper", "steady",
         "crasher"],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = int(_wait_for(log, r"started sleeper \(pid (\d+)\)").group(1))
        steady = int(_wait_for(log, r"started steady \(pid (\d+)\)").group(1))
        _wait_for(log, r"sleeper\s+\| up")
        os.kill(first, signal.SIGKILL)
        _wait_for(log, r"sleeper was killed by signal 9; restarting in 1 s \(restart 1\)")
        mark = log.read_text().index("sleeper was killed")
        second = int(_wait_for(log, r"started sleeper \(pid (\d+)\)", after=mark).group(1))
        assert second != first and _alive(second)
        assert _alive(steady)  # the others are left alone
        _wait_for(log, r"crasher exited with code 3; restarting in 1 s \(restart 1\)")
        _wait_for(log, r"crasher exited with code 3; restarting in 2 s \(restart 2\)")
        assert "unused" not in log.read_text()
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert not _alive(second) and not _alive(steady)
    assert "stopping" in log.read_text()
