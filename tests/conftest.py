"""Fixtures every app's tests share, and the rule for tests that need a real service.

Tests marked `postgres`, `redis`, `rabbitmq` or `browser` skip when that service is absent on a
developer's machine, and fail instead when EASEL_REQUIRE_SERVICES=1 (what `.ci/run` sets), so CI
never passes by skipping them.
"""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("EASEL_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"
# RabbitMQ for the broker tests: RABBITMQ_URL, else the local server (guest/guest). Each test
# database gets a virtual host of its own (made with rabbitmqctl where it is at hand), so two
# checkouts testing at once never take each other's messages.
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "")
RABBITMQ_LOCAL = "amqp://guest:guest@127.0.0.1:5672"


def _rabbitmq_vhost_url() -> str:
    if RABBITMQ_URL:
        return RABBITMQ_URL
    vhost = f"easel_test_{settings.DATABASES['default']['NAME']}".replace("/", "_")
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl:
        for command in (
            ["add_vhost", vhost],
            ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        ):
            subprocess.run([rabbitmqctl, "-q", *command], capture_output=True, timeout=60)
    return f"{RABBITMQ_LOCAL}/{vhost}"


_rabbitmq_checked: dict[str, str | None] = {}


def rabbitmq_url() -> str | None:
    """The RabbitMQ URL tests use, or None when no server answers there."""
    if "url" not in _rabbitmq_checked:
        from kombu import Connection

        url: str | None = _rabbitmq_vhost_url()
        try:
            with Connection(url, connect_timeout=3) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception:
            url = None
        _rabbitmq_checked["url"] = url
    return _rabbitmq_checked["url"]


_QUEUE_HOLDERS = ("queues", "router", "send_task_message")


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app sends to `url` (and declares priority queues on RabbitMQ, as the
    settings do for BROKER_URL=amqp://...), then goes back to what it had."""
    from config.celery import app

    rabbit = url.startswith("amqp")
    names = (
        "broker_url",
        "broker_transport_options",
        "task_queue_max_priority",
        "task_default_priority",
    )
    saved = {name: app.conf.get(name) for name in names}
    pools = (app._pool, app.amqp._producer_pool)
    # The queue declarations (and the router and sender holding them) are built once from the
    # configuration: make them again from the new one (RabbitMQ refuses a queue declared without
    # the x-max-priority it was made with).
    built = {name: app.amqp.__dict__.pop(name, None) for name in _QUEUE_HOLDERS}
    app.conf.broker_url = url
    if rabbit:
        app.conf.broker_transport_options = {}
        app.conf.task_queue_max_priority = 9
        app.conf.task_default_priority = 5
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        # The connection pools stay open: Kombu keeps one per URL for the whole process, and
        # the next test on the same broker gets that same pool back.
        for name, value in saved.items():
            app.conf[name] = value
        for name, value in built.items():
            app.amqp.__dict__.pop(name, None)
            if value is not None:
                app.amqp.__dict__[name] = value
        app._pool, app.amqp._producer_pool = pools


def _missing_service(marker: str) -> str | None:
    if (
        marker == "postgres"
        and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        return "needs PostgreSQL: set DATABASE_URL"
    if marker == "redis" and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL"
    if marker == "rabbitmq" and rabbitmq_url() is None:
        return f"needs RabbitMQ: none answers at {RABBITMQ_URL or RABBITMQ_LOCAL}"
    if marker == "browser" and not shutil.which(CHROMIUM):
        return f"needs Debian's chromium at {CHROMIUM}"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: a real browser and live servers are the slowest, most fragile
    part, and nothing they leave behind can then affect another test."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis", "rabbitmq", "browser"):
        if item.get_closest_marker(marker) is None:
            continue
        missing = _missing_service(marker)
        if missing and REQUIRE_SERVICES:
            pytest.fail(f"{missing} (EASEL_REQUIRE_SERVICES=1)")
        if missing:
            pytest.skip(missing)


@pytest.fixture(scope="session", autouse=True)
def _content_credentials_certificate() -> None:
    """The development chain every delivered image is signed with (as `make run` makes it),
    under var/c2pa/, never committed. The live server and worker of the browser tests use it
    too: they read the same settings."""
    from pathlib import Path

    from generation.provenance.certificates import development_chain_ensure

    development_chain_ensure(folder=Path(settings.EASEL_C2PA_CERTIFICATE).parent)


@pytest.fixture(scope="session", autouse=True)
def _sentence_model_exported() -> None:
    """The screening model's int8 graph, exported once per machine (as `make migrate` does): a
    fresh clone would otherwise pay the ~20 s export inside whichever test screens a prompt
    first, and a test that counts a rate limit's tokens over its requests would see one
    refill."""
    from moderation.text.semantic import sentence_model_export

    sentence_model_export()


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Every test writes images to its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
    }


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    """A verified customer on the default tier."""
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def pro_user(db):  # type: ignore[no-untyped-def]
    from accounts.models import Tier
    from tests.factories import UserFactory

    return UserFactory(tier=Tier.objects.get(name="pro"))


@pytest.fixture(autouse=True)
def _clear_cache():  # type: ignore[no-untyped-def]
    """Rate-limit counters and other cached state never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# Data that migrations seed (tiers, the first policy version, the starter registry). A
# transactional test empties every table when it ends, so tests after it would find none:
# every database test puts the seed back first, by running the migrations' own seed functions.
SEED_MIGRATIONS = [
    ("accounts.migrations.0005_tier_max_pixels", "seed", "accounts_tier"),
    ("moderation.migrations.0002_seed_policy", "seed", "moderation_policyversion"),
    ("moderation.migrations.0003_load_starter_registry", "load", "moderation_publicfigure"),
]


def _ensure_seed_data() -> None:
    import importlib

    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        for module_name, function_name, table in SEED_MIGRATIONS:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 (fixed names)
            if not cursor.fetchone()[0]:
                seed = getattr(importlib.import_module(module_name), function_name)
                seed(apps, None)


@pytest.fixture(autouse=True)
def _seed_data(request):  # type: ignore[no-untyped-def]
    if request.node.get_closest_marker("django_db") is None and not (
        {"db", "transactional_db"} & set(request.fixturenames)
    ):
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    _ensure_seed_data()


def _is_transactional(request) -> bool:  # type: ignore[no-untyped-def]
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames:
        return True
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))


@pytest.fixture
def celery_enqueue_only():  # type: ignore[no-untyped-def]
    """Tasks are sent to Kombu's in-memory broker and never run, for tests about what happens
    before a worker takes a job. Celery reads Django's settings once, so overriding
    CELERY_TASK_ALWAYS_EAGER in a test changes nothing after the first task: this changes the
    app's own configuration and connection pools, and puts them back afterwards."""
    from config.celery import app

    saved = (app.conf.task_always_eager, app.conf.broker_url, app._pool, app.amqp._producer_pool)
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved[0], saved[1]
    app._pool, app.amqp._producer_pool = saved[2], saved[3]
