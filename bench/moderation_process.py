"""Timings of moderation's people-and-process paths, on the database DATABASE_URL names.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/easel \
        .venv/bin/python bench/moderation_process.py
    .venv/bin/python bench/moderation_process.py --cases 20000 --decisions 50000

Creates its own database (test_<name>, migrated, dropped afterwards), so it never touches real
data. Seeds cases, suspensions and output decisions in bulk, then times (p50 and p99, ms):
- `generation_permission_check`, which every generation request calls before screening;
- `strike_record` for a blocked attempt (row lock, window count, threshold check);
- the first page of the review queue, and a filtered page;
- `transparency_figures` over every seeded decision.
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402


def _timed(label: str, function: Callable[[], object], repeats: int) -> None:
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        durations.append((time.perf_counter() - start) * 1000)
    durations.sort()
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    median = statistics.median(durations)
    print(f"{label:<52} p50 {median:8.2f} ms   p99 {p99:8.2f} ms   (n={repeats})")


def _seed(*, cases: int, decisions: int, users: int) -> list:
    from django.utils import timezone

    from moderation.models import Case, Category, Decision, Outcome, Suspension
    from moderation.policy import policy_current
    from tests.factories import UserFactory

    people = [UserFactory.create() for _ in range(users)]
    now = timezone.now()
    categories = Category.values
    Case.objects.bulk_create(
        Case(
            source=random.choice(Case.Source.values),
            category=random.choice(categories),
            priority=random.randint(1, 10),
            state=random.choice([Case.State.OPEN, Case.State.OPEN, Case.State.RESOLVED]),
            subject_user=random.choice(people),
        )
        for _ in range(cases)
    )
    Suspension.objects.bulk_create(
        Suspension(
            user=person,
            end_user=f"end-user-{number}",
            reason="seed",
            ends_at=now + datetime.timedelta(days=1),
        )
        for person in people
        for number in range(5)
    )
    policy = policy_current()
    rows = []
    for _ in range(decisions):
        flagged = random.random() < 0.05
        rows.append(
            Decision(
                stage=Decision.Stage.OUTPUT,
                outcome=Outcome.BLOCK if flagged else Outcome.ALLOW,
                categories=[random.choice(categories)] if flagged else [],
                policy_version=policy,
            )
        )
    Decision.objects.bulk_create(rows, batch_size=5000)
    # Spread them over twelve weeks: one UPDATE per day.
    by_day: dict[int, list[int]] = {}
    for pk in Decision.objects.values_list("pk", flat=True):
        by_day.setdefault(random.randint(0, 83), []).append(pk)
    for days, pks in by_day.items():
        Decision.objects.filter(pk__in=pks).update(created_at=now - datetime.timedelta(days=days))
    return people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=200)
    options = parser.parse_args()

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        from moderation.models import Decision
        from moderation.policy import policy_current
        from moderation.selectors.cases import cases_queue
        from moderation.selectors.transparency import transparency_figures
        from moderation.services.decisions import decision_record
        from moderation.services.enforcement import generation_permission_check
        from moderation.services.strikes import strike_record

        started = time.perf_counter()
        people = _seed(cases=options.cases, decisions=options.decisions, users=options.users)
        print(
            f"database: {connection.vendor}; seeded {options.cases} cases, {options.decisions} "
            f"decisions, {options.users} users in {time.perf_counter() - started:.1f} s"
        )
        settings.MODERATION_STRIKES_PER_USER = 10**9  # time the count, not the suspension
        person = people[0]
        _timed(
            "generation_permission_check (account, 5 end users)",
            lambda: generation_permission_check(user=person, end_user="someone-else"),
            options.repeats,
        )
        policy = policy_current()

        def blocked_attempt() -> None:
            decision = decision_record(
                stage=Decision.Stage.PROMPT,
                outcome="block",
                policy=policy,
                categories=["violence"],
                scores={},
                model_versions={},
                user=person,
            )
            strike_record(user=person, end_user="", decision=decision)

        _timed(
            "decision_record + strike_record (a blocked attempt)", blocked_attempt, options.repeats
        )
        _timed("review queue, first page of 50", lambda: list(cases_queue()[:50]), options.repeats)
        _timed(
            "review queue, category + source filter, 50",
            lambda: list(cases_queue(category="violence", source="report")[:50]),
            options.repeats,
        )
        since = datetime.date.today() - datetime.timedelta(weeks=12)
        _timed(
            f"transparency_figures over {options.decisions} decisions",
            lambda: transparency_figures(since=since),
            max(3, options.repeats // 20),
        )
    finally:
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
