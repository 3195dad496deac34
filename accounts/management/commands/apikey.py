"""`python manage.py apikey create|revoke|list ...`: API keys for operators and scripts."""

import argparse
import datetime as dt
import re
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from accounts.management.operator import OperatorCommand
from accounts.models import ApiKey
from accounts.selectors import api_key_get_by_prefix, api_keys_for_user, user_get_by_email
from accounts.services.api_keys import api_key_create, api_key_revoke

LIST_COLUMNS = [
    "prefix",
    "name",
    "scopes",
    "created",
    "last_used",
    "monthly_cap",
    "status",
    "expires",  # added last, so scripts reading the columns before it keep working
]
_DURATION = re.compile(r"^(\d{1,5})([hd])$")


def expiry(value: str) -> dt.datetime:
    """`--expires`: a duration from now (`12h`, `90d`), a day (`2027-01-31`: the key works to
    the end of that day, UTC) or an ISO 8601 moment (`2027-01-31T18:00:00+01:00`)."""
    duration = _DURATION.match(value)
    if duration:
        amount, unit = int(duration[1]), duration[2]
        return timezone.now() + dt.timedelta(**{"hours" if unit == "h" else "days": amount})
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a duration (12h, 90d), a date (2027-01-31) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(OperatorCommand):
    help = "Create (prints only the secret), revoke (prints nothing) and list API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = self.add_actions(parser, ["create", "revoke", "list"])
        create = actions.add_parser("create", help="Create a key; prints only its secret.")
        create.add_argument("email")
        create.add_argument("--name", default="operator", help="A label for the key.")
        create.add_argument(
            "--scopes",
            nargs="+",
            choices=ApiKey.Scope.values,
            help="Scopes (default: images.generate images.read moderation.read moderation.write).",
        )
        create.add_argument(
            "--monthly-cap", type=int, help="Most credits the key may spend per month."
        )
        create.add_argument(
            "--expires",
            type=expiry,
            help="When the key stops working: 90d, 12h, 2027-01-31 (end of that day, UTC) or "
            "an ISO 8601 time. Default: never.",
        )
        revoke = actions.add_parser("revoke", help="Revoke a key by its prefix (sk-xxxxxxxx).")
        revoke.add_argument("prefix")
        listing = actions.add_parser("list", help="Tab-separated keys of an account, newest first.")
        listing.add_argument("email")
        listing.add_argument("--all", action="store_true", help="Include revoked keys.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            created = api_key_create(
                user=user_get_by_email(email=options["email"]),
                name=options["name"],
                scopes=options["scopes"],
                monthly_credit_cap=options["monthly_cap"],
                expires_at=options["expires"],
            )
            self.stdout.write(created.secret)
        elif action == "revoke":
            api_key_revoke(key=api_key_get_by_prefix(prefix=options["prefix"]))
        elif action == "list":
            keys = api_keys_for_user(
                user=user_get_by_email(email=options["email"]), include_revoked=options["all"]
            )
            self.stdout.write("\t".join(LIST_COLUMNS))
            for key in keys:
                self.stdout.write("\t".join(_row(key)))


def _row(key: ApiKey) -> list[str]:
    return [
        key.prefix,
        key.name,
        ",".join(key.scopes),
        key.created_at.isoformat(timespec="seconds"),
        key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "-",
        str(key.monthly_credit_cap) if key.monthly_credit_cap is not None else "-",
        "revoked" if key.revoked_at else "expired" if key.is_expired else "active",
        key.expires_at.isoformat(timespec="seconds") if key.expires_at else "-",
    ]
