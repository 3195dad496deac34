"""Advisory locks: two writers of the same thing go one at a time, without a row to lock."""

from django.db import connection


def advisory_lock(*, key: str) -> None:
    """Hold a transaction-scoped lock on `key` (call it inside `transaction.atomic()`); it is
    released when the transaction ends. PostgreSQL only: SQLite already serialises every write
    transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
