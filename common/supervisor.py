"""`python -m common.supervisor [-f platform/Procfile] NAME ...`: what `make run` runs.

Starts the named processes of a Procfile (each line `name: command`, run by /bin/sh as honcho
and foreman run them), prefixes every line they print with the time and their name, and keeps
them running: one that exits is started again after a short backoff (1 s, doubling to 30 s; back
to 1 s once it has stayed up a minute), with a line in the log saying so. Ctrl-C or SIGTERM
stops them all: SIGTERM to each process group, SIGKILL to what is left after the grace period.

platform/Procfile stays the one list of Easel's processes; honcho starts it too but stops
everything when one process dies, which leaves a local stack half dead after a crash. This
module is small on purpose and depends on nothing outside the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A process that stayed up this long before it died is restarted after the first backoff again.
STABLE_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


def procfile_read(path: Path) -> dict[str, str]:
    """`name: command` lines, in order; blank lines and `#` comments skipped."""
    processes: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, colon, command = text.partition(":")
        if not colon or not name.strip() or not command.strip():
            raise ValueError(f"{path}:{number}: expected 'name: command', got {line!r}")
        processes[name.strip()] = command.strip()
    return processes


@dataclass
class Child:
    name: str
    command: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = 0.0  # monotonic time of the next start; None while running
    backoff: float = FIRST_BACKOFF_SECONDS
    restarts: int = 0
    relay: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, processes: dict[str, str], *, out: IO[str] | None = None) -> None:
        self.children = [Child(name, command) for name, command in processes.items()]
        self.out = out or sys.stdout
        self.width = max((len(name) for name in processes), default=0)
        self.stopping = threading.Event()
        self._write_lock = threading.Lock()

    def log(self, name: str, text: str) -> None:
        with self._write_lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {text}\n")
            self.out.flush()

    def _start(self, child: Child) -> None:
        # `exec` so the signal reaches the program itself; its own session and process group,
        # so Ctrl-C in the terminal reaches only us and we stop the children in our own way.
        child.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {child.command}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        self.log("supervisor", f"started {child.name} (pid {child.process.pid})")
        child.relay = threading.Thread(target=self._relay, args=(child, child.process), daemon=True)
        child.relay.start()

    def _relay(self, child: Child, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            self.log(child.name, raw.decode(errors="replace").rstrip("\n"))

    def _check(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._start(child)
            return
        assert child.process is not None
        code = child.process.poll()
        if code is None:
            return
        _signal_group(child, signal.SIGKILL)  # what it left behind (a worker's pool children)
        if now - child.started_at >= STABLE_AFTER_SECONDS:
            child.backoff = FIRST_BACKOFF_SECONDS
        child.restarts += 1
        child.restart_at = now + child.backoff
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.log(
            "supervisor",
            f"{child.name} {how}; restarting in {child.backoff:g} s (restart {child.restarts})",
        )
        child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)

    def run(self, *, poll_interval: float = 0.2) -> int:
        """Until stop() (a signal): keep every child running. Returns the exit code."""
        while not self.stopping.is_set():
            now = time.monotonic()
            for child in self.children:
                self._check(child, now)
            self.stopping.wait(poll_interval)
        self._stop_all()
        return 0

    def stop(self, *_: object) -> None:
        self.stopping.set()

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        self.log("supervisor", f"stopping {', '.join(c.name for c in running) or 'nothing'}")
        for child in running:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                self.log("supervisor", f"{child.name} ignored SIGTERM; killing it")
                _signal_group(child, signal.SIGKILL)
                child.process.wait()
        for child in self.children:
            if child.relay is not None:
                child.relay.join(timeout=2)


def _signal_group(child: Child, signum: int) -> None:
    """The whole group: a Celery worker's pool children and a shell's programs go too."""
    assert child.process is not None
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(child.process.pid, signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.supervisor",
        description="Run Procfile processes, restart any that dies, stop all on Ctrl-C.",
    )
    parser.add_argument("-f", "--procfile", type=Path, default=Path("platform/Procfile"))
    parser.add_argument("names", nargs="*", help="processes to run (default: every one)")
    args = parser.parse_args(argv)
    processes = procfile_read(args.procfile)
    unknown = [name for name in args.names if name not in processes]
    if unknown:
        parser.error(f"{args.procfile} has no {', '.join(unknown)}; it has {', '.join(processes)}")
    chosen = {name: processes[name] for name in args.names} if args.names else processes
    supervisor = Supervisor(chosen)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
