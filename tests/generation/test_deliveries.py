"""The delivery pool when a task runs out of time: what runs ends, what waits never starts."""

import threading

import pytest
from django.conf import settings

from generation.services.deliveries import deliveries_shutdown, deliveries_stop, delivery_submit


@pytest.fixture
def one_delivery_thread():
    """A pool of one thread: a second delivery waits behind the first."""
    deliveries_shutdown()
    threads, settings.EASEL_DELIVERY_THREADS = settings.EASEL_DELIVERY_THREADS, 1
    yield
    deliveries_shutdown()
    settings.EASEL_DELIVERY_THREADS = threads


def test_stopping_waits_for_the_running_delivery_and_drops_the_waiting_ones(one_delivery_thread):
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def running() -> list:
        started.set()
        release.wait(10)
        ran.append("running")
        return []

    first = delivery_submit(running, pooled=True)
    waiting = delivery_submit(lambda: ran.append("waiting"), pooled=True)
    assert started.wait(10)
    stopper = threading.Thread(target=deliveries_stop, args=([first, waiting],))
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # it waits for the delivery that is running
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert ran == ["running"] and waiting.cancelled()


def test_stopping_follows_what_a_delivery_handed_on(one_delivery_thread):
    ran: list[str] = []
    handed_on: list = []
    a_started, release = threading.Event(), threading.Event()

    def a() -> None:
        a_started.set()
        release.wait(10)
        ran.append("a")

    def screening() -> list:
        # Hands on two to the pool's one thread: `a` runs once this returns, `b` waits behind it.
        handed_on.append(delivery_submit(a, pooled=True))
        handed_on.append(delivery_submit(lambda: ran.append("b"), pooled=True))
        return handed_on

    batch = delivery_submit(screening, pooled=True)
    assert a_started.wait(10)
    threading.Timer(0.2, release.set).start()
    deliveries_stop([batch])
    assert ran == ["a"] and handed_on[1].cancelled()


def test_a_failed_delivery_does_not_stop_the_stop(one_delivery_thread):
    def failing() -> None:
        raise RuntimeError("its own failure, logged where it ran")

    failed = delivery_submit(failing, pooled=True)
    assert isinstance(failed.exception(10), RuntimeError)
    deliveries_stop([failed])  # returns: the failure was the delivery's to handle
