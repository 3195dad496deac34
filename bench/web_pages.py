"""Server time to render the web app's main pages (p50 and p95 over N requests each).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/easel .venv/bin/python bench/web_pages.py
    .venv/bin/python bench/web_pages.py --requests 50

Creates its own test database (test_<name>, migrated, dropped afterwards), a user with 60
images in their history (12 per page), a shared image and a staff user with two-factor, then
times Django's test client on each page: template rendering, queries and middleware, without
the network. Prints one line per page: p50 and p95 in milliseconds and the number of queries.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402


def _fixtures() -> tuple:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from generation.services.sharing import share_enable
    from tests.factories import UserFactory
    from tests.frontend.conftest import stored_image

    user = UserFactory.create(email="bench@example.com")
    images = [stored_image(user=user, prompt=f"a lighthouse, study {n}") for n in range(60)]
    share = share_enable(user=user, image_id=images[0].pk)
    staff = UserFactory.create(email="staff-bench@example.com", is_staff=True)
    TOTP.activate(staff, generate_totp_secret())
    return user, staff, images[0], share


def _time(client: Client, url: str, requests: int) -> tuple[float, float, int]:
    client.get(url)  # warm: template loading, first queries
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        import tempfile

        from django.conf import settings

        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": tempfile.mkdtemp()},
            },
        }
        user, staff, image, share = _fixtures()
        print(f"database: {connection.vendor}; {args.requests} requests per page")
        anonymous, customer, reviewer = Client(), Client(), Client()
        customer.force_login(user)
        reviewer.force_login(staff)
        pages = [
            (anonymous, "/", "landing"),
            (anonymous, "/explore/", "explore"),
            (anonymous, f"/s/{share.slug}", "share page"),
            (customer, "/create/", "create"),
            (customer, "/history/", "history (12 of 60)"),
            (customer, "/history/?q=study+4", "history search"),
            (customer, f"/i/{image.pk}/", "image"),
            (customer, "/billing/", "billing"),
            (customer, "/developers/", "API keys"),
            (reviewer, "/console/", "console queue"),
            (reviewer, "/console/transparency/", "console transparency"),
        ]
        for client, url, name in pages:
            p50, p95, queries = _time(client, url, args.requests)
            print(f"{name:24} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   {queries:3d} queries")
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
