"""Credit reservations per second on PostgreSQL, against the raw floor measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/easel .venv/bin/python bench/ledger.py
    .venv/bin/python bench/ledger.py --threads 8 --seconds 5 --rounds 2

Creates its own database (test_<name>, migrated, dropped afterwards; --keepdb keeps it), so it
never touches real data. Each worker thread holds its own connection and calls the real
`credits_reserve` service (durable transaction, wallet row lock, lot bookkeeping, entry).
"Hot" has every thread reserve from one wallet, so they queue on its row lock; "many" gives
each thread its own wallet.

The raw floor is the least a reservation can be: one transaction through psycopg, with the same
threads on the same kind of row, that locks the wallet row, updates its balance and inserts the
ledger entry, and nothing else (no lots, no reservation row, no checks). Raw and Easel runs
alternate, `--rounds` times, so load from elsewhere on the machine falls on both; Easel's rate
is printed as a share of the raw rate of its round and of all rounds together.

Then reserve+capture cycles are timed the same way. After each Easel run the ledger invariant
is checked (balance = sum of entries = sum of lots, per wallet) and the number of reservations
is compared with the credits that left the wallets.
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

RAW_RESERVE = (
    "SELECT balance FROM billing_wallet WHERE id = %(wallet)s FOR UPDATE",
    "UPDATE billing_wallet SET balance = balance - 1, updated_at = now() "
    "WHERE id = %(wallet)s RETURNING balance",
    "INSERT INTO billing_ledgerentry (wallet_id, amount, kind, idempotency_key, balance_after, "
    "created_at, generation_id, credits, stripe_object_id, reason) "
    "VALUES (%(wallet)s, -1, 'reserve', %(key)s, %(balance)s, now(), %(generation)s, 0, '', '')",
)


def _users(count: int) -> list:
    from billing.services.credits import wallet_get_or_create
    from tests.factories import UserFactory

    settings.BILLING_SIGNUP_GRANT = STARTING_CREDITS
    users = [UserFactory(email=f"bench-{uuid.uuid4().hex[:10]}@example.com") for _ in range(count)]
    for user in users:
        wallet_get_or_create(user=user)
    return users


def _easel_worker(capture: bool):  # type: ignore[no-untyped-def]
    """One thread's loop body: the real service, on this thread's Django connection."""
    from billing.services.credits import credits_capture, credits_reserve

    def once(user: object) -> None:
        generation_id = uuid.uuid4()
        credits_reserve(user=user, generation_id=generation_id, amount=1)
        if capture:
            credits_capture(generation_id=generation_id, amount=1)

    return once, connection.close


def _raw_worker():  # type: ignore[no-untyped-def]
    """One thread's loop body: the raw floor, on a psycopg connection of its own."""
    import psycopg

    database = connection.settings_dict
    raw = psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname=database["NAME"],
    )

    def once(wallet_id: int) -> None:
        generation_id = uuid.uuid4()
        values = {"wallet": wallet_id, "key": f"raw:{generation_id}", "generation": generation_id}
        with raw.transaction(), raw.cursor() as cursor:
            cursor.execute(RAW_RESERVE[0], values)
            cursor.execute(RAW_RESERVE[1], values)
            (balance,) = cursor.fetchone()  # type: ignore[misc]
            cursor.execute(RAW_RESERVE[2], {**values, "balance": balance})

    return once, raw.close


def _run(users_for_threads: list, seconds: float, make_worker) -> tuple[int, float, list[str]]:  # type: ignore[no-untyped-def]
    """Call each thread's loop body as fast as possible for `seconds`; (count, elapsed, errors)."""
    counts = [0] * len(users_for_threads)
    errors: list[str] = []
    barrier = threading.Barrier(len(users_for_threads) + 1)
    stop = threading.Event()

    def worker(index: int, user: object) -> None:
        once, close = make_worker()
        try:
            barrier.wait()
            while not stop.is_set():
                once(user)
                counts[index] += 1
        except Exception as error:  # noqa: BLE001 - reported in the figures
            errors.append(repr(error))
        finally:
            close()

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

    # Only these users' wallets: the raw floor's wallets have entries and no lots, by design.
    ids = {user.pk for user in users}
    mismatches = [m for m in wallet_mismatches() if m.user_id in ids]
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
    parser.add_argument("--rounds", type=int, default=2)
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
            f"{args.seconds:.0f} s per run, {args.rounds} rounds, {os.cpu_count()} CPUs"
        )
        for label, hot in (("hot wallet", True), ("many wallets", False)):
            totals = {"raw": [0, 0.0], "easel": [0, 0.0]}
            for round_number in range(1, args.rounds + 1):
                users = _users(1) * args.threads if hot else _users(args.threads)
                raw_users = _users(1) * args.threads if hot else _users(args.threads)
                raw_wallets = [user.wallet.pk for user in raw_users]
                raw, raw_elapsed, raw_errors = _run(raw_wallets, args.seconds, _raw_worker)
                done, elapsed, errors = _run(users, args.seconds, lambda: _easel_worker(False))
                line = _check_invariant(list(set(users)), done)
                broken |= "BROKEN" in line or bool(errors) or bool(raw_errors)
                share = (done / elapsed) / (raw / raw_elapsed) if raw else 0.0
                print(f"{label:<13} raw floor        {_rate(raw, raw_elapsed)}")
                print(f"{label:<13} reserve          {_rate(done, elapsed)}  {line}")
                print(f"{label:<13} round {round_number}: Easel is {share:.0%} of the raw floor")
                totals["raw"][0] += raw
                totals["raw"][1] += raw_elapsed
                totals["easel"][0] += done
                totals["easel"][1] += elapsed
                for error in (raw_errors + errors)[:5]:
                    print("  error:", error)
            raw_rate = totals["raw"][0] / totals["raw"][1]
            easel_rate = totals["easel"][0] / totals["easel"][1]
            print(
                f"{label:<13} all rounds: Easel {easel_rate:.0f}/s, raw {raw_rate:.0f}/s, "
                f"share {easel_rate / raw_rate:.0%}"
            )
        for label, hot in (("hot wallet", True), ("many wallets", False)):
            users = _users(1) * args.threads if hot else _users(args.threads)
            done, elapsed, errors = _run(users, args.seconds, lambda: _easel_worker(True))
            line = _check_invariant(list(set(users)), done)
            broken |= "BROKEN" in line or bool(errors)
            print(f"{label:<13} reserve+capture  {_rate(done, elapsed)}  {line}")
            for error in errors[:5]:
                print("  error:", error)
    finally:
        connection.close()
        teardown_databases(old_config, verbosity=0, keepdb=args.keepdb)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
