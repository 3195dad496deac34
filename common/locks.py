"""Advisory locks: two writers of the same thing go one at a time, without a row to lock."""

from collections.abc import Sequence

from django.db import connection


def advisory_lock(*, key: str) -> None:
    """Hold a transaction-scoped lock on `key` (call it inside `transaction.atomic()`); it is
    released when the transaction ends. PostgreSQL only: SQLite already serialises every write
    transaction."""
    advisory_locks(keys=[key])


def advisory_locks(*, keys: Sequence[str]) -> None:
    """`advisory_lock` on every key, in one round trip. Taken in the order of the keys' hashes
    (the sorted subquery feeds the aggregate row by row), so two transactions that want some of
    the same keys cannot each hold one the other waits for."""
    if connection.vendor == "postgresql" and keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(hash)) FROM ("
                " SELECT hashtextextended(key, 0) AS hash FROM unnest(%s::text[]) AS key"
                " ORDER BY hash) AS ordered",
                [list(keys)],
            )
