"""Run as a separate OS process by test_rate_limits: hammers one account's request bucket.

Prints how many of its attempts were allowed. Needs no database: the user and tier are built
in memory, so only the shared counter (Redis, or the locked cache) links the processes.
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from accounts.models import Tier, User  # noqa: E402
from accounts.services.rate_limits import rate_limit_consume  # noqa: E402
from common.errors import RateLimitExceeded  # noqa: E402


def main(user_id: int, limit: int, attempts: int, start_at: float) -> None:
    tier = Tier(name="t", display_name="Test", requests_per_minute=limit, images_per_minute=1000)
    user = User(pk=user_id, email="worker@example.com", tier=tier)
    while time.time() < start_at:  # both processes start hammering at the same moment
        time.sleep(0.001)
    allowed = 0
    for _ in range(attempts):
        try:
            rate_limit_consume(user=user, api_key=None, requests=1, images=1)
            allowed += 1
        except RateLimitExceeded:
            pass
    print(allowed)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
