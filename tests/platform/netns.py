"""Worker "hosts" on this machine: each a network namespace with its own hostname and address,
joined to the machine by a veth link, reaching PostgreSQL and Redis (which listen on 127.0.0.1
only) through a TCP forwarder bound to the machine's end of that link.

Nothing on the machine is reconfigured: namespaces, links and forwarders exist while the test
runs and are removed after it, and the services' own configuration is never touched.
"""

import asyncio
import contextlib
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings as django_settings

from tests.generation.live_server import gpu_worker_argv

ROOT = Path(__file__).resolve().parents[2]
PROBE_PORT = 9808


class NamespacesRefused(Exception):
    """This machine (or container) does not let the test make network namespaces."""


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NamespacesRefused(f"`{' '.join(command)}` failed: {done.stderr.strip()}")


@dataclass
class Link:
    netns: str
    host_address: str  # the machine's end: forwarders listen here
    guest_address: str  # the namespace's end: the host's own address


def links_create(*, count: int, tag: str) -> list[Link]:
    """`count` namespaces, each with a /30 veth link to the machine (addresses 10.254.S.x, the
    subnet S chosen from `tag` so two test runs at once do not collide)."""
    subnet = int(tag) % 250
    links = []
    try:
        for index in range(count):
            netns = f"easel-{tag}-h{index + 1}"
            outside, inside = f"ez{tag}h{index + 1}o", f"ez{tag}h{index + 1}i"
            host, guest = f"10.254.{subnet}.{4 * index + 1}", f"10.254.{subnet}.{4 * index + 2}"
            _ip("netns", "add", netns)
            links.append(Link(netns=netns, host_address=host, guest_address=guest))
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", netns)
            _ip("addr", "add", f"{host}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("addr", "add", f"{guest}/30", "dev", inside, netns=netns)
            _ip("link", "set", inside, "up", netns=netns)
            _ip("link", "set", "lo", "up", netns=netns)
            _ip("route", "add", "default", "via", host, netns=netns)
    except Exception:
        links_delete(links)
        raise
    return links


def links_delete(links: list[Link]) -> None:
    """Deleting a namespace deletes its end of the veth, and with it the machine's end."""
    for link in links:
        subprocess.run(["ip", "netns", "delete", link.netns], capture_output=True, timeout=30)


class Forwarder:
    """Plain TCP forwarding from (listen address, port) to 127.0.0.1:port, in one thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def forward(self, *, listen: str, port: int) -> None:
        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(
                lambda reader, writer: self._pipe_both(reader, writer, port), listen, port
            )

        self._servers.append(asyncio.run_coroutine_threadsafe(start(), self._loop).result(10))

    async def _pipe_both(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, port: int
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        """Stops listening and closes every forwarded connection, so PostgreSQL sees each
        session end now (the test database is dropped right after)."""

        async def stop() -> None:
            for server in self._servers:
                server.close()
            for writer in list(self._writers):
                writer.close()
            await asyncio.sleep(0.2)
            current = asyncio.current_task()
            pending = [task for task in asyncio.all_tasks() if task is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def host_command(*, link: Link, hostname: str, argv: list[str]) -> list[str]:
    """`argv` run inside the link's namespace under its own hostname (a UTS namespace too)."""
    script = f'hostname {hostname} && exec "$@"'
    return [
        "ip",
        "netns",
        "exec",
        link.netns,
        "unshare",
        "--uts",
        "--",
        "sh",
        "-c",
        script,
        "sh",
    ] + argv


def namespaces_available() -> str | None:
    """None when this process may make network and UTS namespaces; else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "unshare"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return f"`{tool}` is not installed (Debian: iproute2, util-linux)"
    probe = f"easel-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        done = subprocess.run(
            ["ip", "netns", "exec", probe, "unshare", "--uts", "--", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            return f"unshare --uts refused: {done.stderr.strip()}"
    except NamespacesRefused as refused:
        return str(refused)
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=30)
    return None


# --- Worker hosts ----------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    link: Link
    process: subprocess.Popen
    log: Path

    @property
    def probe(self) -> str:
        return f"http://{self.link.guest_address}:{PROBE_PORT}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.probe + path, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def tail(self) -> str:
        return f"--- {self.name} ---\n{self.log.read_text()[-3000:]}"


def _host_environment(link: Link, folder: Path, lease_seconds: int) -> dict[str, str]:
    database = django_settings.DATABASES["default"]
    redis_db = django_settings.REDIS_URL.rsplit("/", 1)[1]
    redis_url = f"redis://{link.host_address}:6379/{redis_db}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{link.host_address}:{database['PORT'] or 5432}/"
            f"{database['NAME']}"
        ),
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "MEDIA_ROOT": str(folder / "media"),  # one folder for all: the fleet's shared storage
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "HF_HUB_OFFLINE": "1",
        "EASEL_LANE_PROMOTE_AFTER_SECONDS": "3600",
        "EASEL_GENERATION_LEASE_SECONDS": str(lease_seconds),
        # A dead host's unacknowledged message comes back after 60 s (checked every second);
        # production keeps it above the hard time limit (docs/deploy.md).
        "CELERY_VISIBILITY_TIMEOUT": "60",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "EASEL_WORKER_PROBE_PORT": str(PROBE_PORT),
        "EASEL_WORKER_MODELS": "easel/tiny",
        # Three hosts share this machine's cores: one thread each, as one GPU each would be.
        "OMP_NUM_THREADS": "1",
    }
    if database.get("PASSWORD"):
        environment["PGPASSWORD"] = database["PASSWORD"]
    return environment


def host_start(*, link: Link, name: str, folder: Path, lease_seconds: int) -> Host:
    """A GPU-worker host: a real Celery worker (prefork, one child, the tiny model) in the
    link's namespace under its own hostname, with its probes on PROBE_PORT."""
    metrics_folder = folder / f"metrics-{name}"
    metrics_folder.mkdir()
    environment = _host_environment(link, folder, lease_seconds)
    environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_folder)
    log = folder / f"{name}.log"
    argv = gpu_worker_argv(hostname="gpu@%h")
    process = subprocess.Popen(
        host_command(link=link, hostname=name, argv=argv),
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the host's whole tree, for killpg
    )
    return Host(name=name, link=link, process=process, log=log)


def hosts_wait_ready(hosts: list[Host], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(hosts)
    while waiting and time.monotonic() < deadline:
        for host in list(waiting):
            assert host.process.poll() is None, host.tail()
            try:
                status, _ = host.get("/readyz")
            except OSError:
                continue  # the probe server is not up yet
            if status == 200:
                waiting.remove(host)
        time.sleep(0.5)
    assert not waiting, "\n".join(host.tail() for host in waiting)
