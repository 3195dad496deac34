"""`python manage.py apikey create|revoke|list ...`: API keys for operators and scripts."""

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.operator import OperatorCommand
from accounts.models import ApiKey
from accounts.selectors import api_key_get_by_prefix, api_keys_for_user, user_get_by_email
from accounts.services.api_keys import api_key_create, api_key_revoke

LIST_COLUMNS = ["prefix", "name", "scopes", "created", "last_used", "monthly_cap", "status"]


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
            help="Scopes (default: all).",
        )
        create.add_argument(
            "--monthly-cap", type=int, help="Most credits the key may spend per month."
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
        "revoked" if key.revoked_at else "active",
    ]
