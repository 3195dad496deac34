"""Credit reservations per second on PostgreSQL: one hot wallet, and many wallets at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/easel .venv/bin/python bench/ledger.py
    .venv/bin/python bench/ledger.py --threads 8 --seconds 5

Creates its own database (test_<name>, migrated, dropped afterwards; --keepdb keeps it), so it
never touches real data. Each worker thread holds its own connection and calls the real
`credits_reserve` service (durable transaction, wallet row lock, lot bookkeeping, entry).
"Hot" has every thread reserve from one wallet, so they queue on its row lock; "spread" gives
each thread its own wallet. Then a reserve+capture cycle is timed the same way. After each run
the ledger invariant is checked (balance = sum of entries = sum of lots, per wallet) and the
number of reservations is compared with the credits that left the wallets.
"""

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

STARTING_CREDITS = 10_000_000


def _users(count: int) -> list:
    from billing.services.credits import wallet_get_or_create
    from tests.factories import UserFactory

    settings.BILLING_SIGNUP_GRANT = STARTING_CREDITS
    users = [UserFactory(email=f"bench-{uuid.uuid4().hex[:10]}@example.com") for _ in range(count)]
    for user in users:
        wallet_get_or_create(user=user)
    return users


def _run(users_for_threads: list, seconds: float, capture: bool) -> tuple[int, float, list[str]]:
    """Reserve (and capture) as fast as possible from each thread for `seconds`."""
    from billing.services.credits import credits_capture, credits_reserve

    counts = [0] * len(users_for_threads)
    errors: list[str] = []
    barrier = threading.Barrier(len(users_for_threads) + 1)
    stop = threading.Event()

    def worker(index: int, user: object) -> None:
        try:
            barrier.wait()
            while not stop.is_set():
                generation_id = uuid.uuid4()
                credits_reserve(user=user, generation_id=generation_id, amount=1)
                if capture:
                    credits_capture(generation_id=generation_id, amount=1)
                counts[index] += 1
        except Exception as error:  # noqa: BLE001 - reported in the figures
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, u)) for i, u in enumerate(users_for_threads)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started, errors


def _rate(done: int, elapsed: float) -> str:
    return f"{done / elapsed:8.0f} /s  ({done} in {elapsed:.1f} s)"


def _check_invariant(users: list, expected_spent: int) -> str:
    from billing.models import Reservation, Wallet
    from billing.selectors import wallet_mismatches

    mismatches = wallet_mismatches()
    wallets = Wallet.objects.filter(user__in=users)
    left = wallets.aggregate(total=Sum("balance"))["total"]
    spent = len(users) * STARTING_CREDITS - left
    reservations = Reservation.objects.filter(wallet__in=wallets).count()
    ok = not mismatches and spent == expected_spent == reservations
    return (
        f"invariant {'OK' if ok else 'BROKEN'}: {len(mismatches)} mismatched wallets, "
        f"{spent} credits left the wallets, {reservations} reservations, {expected_spent} counted"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--keepdb", action="store_true")
    args = parser.parse_args()
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("bench/ledger.py needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    old_config = setup_databases(verbosity=0, interactive=False, keepdb=args.keepdb)
    broken = False
    try:
        server_version = connection.cursor().connection.info.server_version
        print(
            f"PostgreSQL {server_version // 10000}, {args.threads} threads, "
            f"{args.seconds:.0f} s per run, {os.cpu_count()} CPUs"
        )
        for label, capture in (("reserve", False), ("reserve+capture", True)):
            hot_user = _users(1)
            done, elapsed, errors = _run(hot_user * args.threads, args.seconds, capture)
            line = _check_invariant(hot_user, done)
            broken |= "BROKEN" in line or bool(errors)
            print(f"hot wallet    {label:<16} {_rate(done, elapsed)}  {line}")
            spread_users = _users(args.threads)
            done, elapsed, errors2 = _run(spread_users, args.seconds, capture)
            line = _check_invariant(spread_users, done)
            broken |= "BROKEN" in line or bool(errors2)
            print(f"many wallets  {label:<16} {_rate(done, elapsed)}  {line}")
            for error in (errors + errors2)[:5]:
                print("  error:", error)
    finally:
        connection.close()
        teardown_databases(old_config, verbosity=0, keepdb=args.keepdb)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
