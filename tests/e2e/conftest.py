"""A live Easel for the browser tests: uvicorn and a real Celery worker (tiny model) as
subprocesses on the test database, the local Stripe server, and headless Debian Chromium.

Both processes use tests/e2e/settings.py: e-mail to files, tasks to the worker through Redis.
The tests commit their rows (transactional tests) so the subprocesses see them.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_calls_beside_playwright():  # type: ignore[no-untyped-def]
    """Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    between browser steps are ordinary blocking calls, which Django allows once told so. Only
    for these tests: the rest of the suite keeps Django's async-safety checks."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the live server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the live server did not start:\n{log.read_text()[-3000:]}")


def _wait_for_worker(log: Path, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{log.read_text()[-3000:]}")
        if "ready." in log.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")


class LiveEasel:
    def __init__(self, *, url: str, mail_dir: Path, stripe) -> None:  # type: ignore[no-untyped-def]
        self.url = url
        self.mail_dir = mail_dir
        self.stripe = stripe

    def mail_link(
        self, *, to: str, pattern: str = r"https?://\S+/accounts/confirm-email/\S+/"
    ) -> str:
        """The first link matching `pattern` in the newest e-mail sent to `to`."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for message in sorted(
                self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True
            ):
                text = message.read_text()
                if f"To: {to}" in text:
                    found = re.search(pattern, text)
                    if found:
                        return found.group(0)
            time.sleep(0.2)
        raise AssertionError(f"no e-mail with a link to {to}")


@pytest.fixture(scope="session")
def live_easel(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LiveEasel]:  # type: ignore[no-untyped-def]
    from tests.billing.stripe_server import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, StripeServer

    if (
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
        or not settings.REDIS_URL
    ):
        pytest.skip("the live server needs PostgreSQL and Redis")
    base = tmp_path_factory.mktemp("live")
    mail_dir = base / "mail"
    mail_dir.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    stripe = StripeServer().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        # No SITE_URL: the public address must follow the port served, as under `make run`.
        "EASEL_WEB_PORT": str(port),
        "MEDIA_ROOT": str(base / "media"),
        "EASEL_E2E_MAIL_DIR": str(mail_dir),
        "EASEL_MODEL": "easel/tiny",
        "HF_HUB_OFFLINE": "1",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe.url,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.pop("SITE_URL", None)
    web_log, worker_log = base / "web.log", base / "worker.log"
    bin_dir = Path(sys.executable).parent
    web = subprocess.Popen(
        [
            str(bin_dir / "uvicorn"),
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=web_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            "default,gpu",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
            "--hostname",
            f"e2e-{port}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=worker_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url + "/", web, web_log)
        _wait_for_worker(worker_log, worker)
        yield LiveEasel(url=url, mail_dir=mail_dir, stripe=stripe)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        stripe.stop()
        if os.environ.get("EASEL_E2E_LOGS"):
            print(web_log.read_text()[-5000:], worker_log.read_text()[-5000:])


# Module scope: Playwright's event loop must stop before other modules' tests run, or Django's
# async_to_sync refuses to work in this thread for the rest of the session.
@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def screenshot(page, name: str, *, dark: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The page at phone and desktop widths, full length, into artifacts/screenshots/;
    `dark` adds the desktop page in the dark colour scheme."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    if dark:
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")
    if original:
        page.set_viewport_size(original)


def serious_accessibility_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core run in the page: the serious and critical violations, as readable lines."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def assert_fits_the_screen(page) -> None:  # type: ignore[no-untyped-def]
    """At phone width nothing may widen the page: wide tables scroll inside their card."""
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size(DESKTOP)
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"
    # The pages here hold a few items each: a very tall page means text squeezed into a
    # column a few letters wide.
    assert height <= 8000, f"{page.url} is {height}px tall on a phone"


def record_submit_progress(page) -> list:  # type: ignore[no-untyped-def]
    """What each submitted form's button showed at the moment of submitting: its `aria-busy`
    (easel.js sets it as the form goes). Read inside the page at the submit event, because a
    form post starts a navigation and Playwright's locators then wait for the next page."""
    seen: list = []
    page.expose_function("__easelSubmitted", lambda busy: seen.append(busy))
    # A window listener runs after easel.js's document listener has marked the button.
    page.add_init_script(
        "window.addEventListener('submit', function (event) {"
        " var button = event.submitter;"
        " window.__easelSubmitted(button ? button.getAttribute('aria-busy') : null); });"
    )
    return seen
