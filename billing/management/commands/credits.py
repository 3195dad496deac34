"""`python manage.py credits grant|balance|reconcile`: operator tools for the ledger."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from billing.selectors import balance_summary, payment_mismatches, wallet_mismatches
from common.errors import ApiError


class Command(BaseCommand):
    help = (
        "Grant credits, show a balance, or reconcile wallets and Stripe payments with the ledger."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        grant = sub.add_parser(
            "grant", help="Grant (or, negative, take) credits, recorded as a staff adjustment."
        )
        grant.add_argument("email")
        grant.add_argument("credits", type=int)
        grant.add_argument("--reason", required=True, help="Why: stored on the ledger entry.")
        grant.add_argument(
            "--actor",
            default=None,
            help="E-mail of the staff member responsible (default: the first superuser).",
        )
        balance = sub.add_parser("balance", help="Show a user's balance and lots.")
        balance.add_argument("email")
        sub.add_parser(
            "reconcile",
            help="Check every wallet against its entries and lots, and every paid Stripe payment "
            "against its grant. Exits 1 and prints each difference.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(**options)

    def _user(self, email: str) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        return user

    def _grant(self, *, email: str, credits: int, reason: str, actor: str | None, **_: Any) -> None:
        from billing.services.credits import credits_adjust

        user = self._user(email)
        staff = (
            self._user(actor)
            if actor
            else User.objects.filter(is_superuser=True, is_staff=True).order_by("pk").first()
        )
        if staff is None:
            raise CommandError("No staff member to record: pass --actor EMAIL.")
        try:
            entry = credits_adjust(user=user, amount=credits, actor=staff, reason=reason)
        except ApiError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"{entry.amount:+d} credits for {user.email}; balance {entry.balance_after}"
        )

    def _balance(self, *, email: str, **_: Any) -> None:
        summary = balance_summary(user=self._user(email))
        self.stdout.write(
            f"balance {summary.balance}  reserved {summary.reserved}  debt {summary.debt}"
            + ("  FROZEN" if summary.frozen else "")
        )
        for lot in summary.lots:
            expiry = lot.expires_at.isoformat() if lot.expires_at else "never"
            self.stdout.write(
                f"  {lot.remaining:>6} of {lot.granted:<6} {lot.source:<12} expires {expiry}"
            )

    def _reconcile(self, **_: Any) -> None:
        problems = [
            f"wallet {m.wallet_id} (user {m.user_id}): balance {m.balance}, "
            f"entries sum {m.entries_total}, lots hold {m.lots_total}"
            for m in wallet_mismatches()
        ] + payment_mismatches()
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} difference(s) found.", returncode=1)
        self.stdout.write("ledger reconciled: no differences")
