"""`python manage.py user create|tier ...`: accounts for operators and scripts."""

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.operator import OperatorCommand, read_secret_argument
from accounts.models import DEFAULT_TIER_NAME
from accounts.selectors import user_get_by_email
from accounts.services.users import user_create, user_set_tier


class Command(OperatorCommand):
    help = "Create accounts and change their tier. Prints nothing on success."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = self.add_actions(parser, ["create", "tier"])
        create = actions.add_parser("create", help="Create an account.")
        create.add_argument("email")
        create.add_argument(
            "--password",
            help="Its password ('-' reads it from stdin). Without one, it is set by a reset.",
        )
        create.add_argument("--tier", default=DEFAULT_TIER_NAME, help="Tier name, e.g. free, plus.")
        create.add_argument("--staff", action="store_true", help="A staff account.")
        create.add_argument(
            "--verified", action="store_true", help="Mark the e-mail address as verified."
        )
        tier = actions.add_parser("tier", help="Move an account to another tier.")
        tier.add_argument("email")
        tier.add_argument("name", help="Tier name, e.g. free, plus, pro, enterprise.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            user_create(
                email=options["email"],
                password=read_secret_argument(options["password"]),
                tier_name=options["tier"],
                is_staff=options["staff"],
                verified=options["verified"],
            )
        elif action == "tier":
            user_set_tier(user=user_get_by_email(email=options["email"]), tier_name=options["name"])
