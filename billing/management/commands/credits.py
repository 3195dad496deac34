"""`python manage.py credits grant|balance|reconcile`: operator tools for the ledger."""

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from billing.selectors import (
    balance_summary,
    payment_mismatches,
    payment_reversal_mismatches,
    payment_stripe_mismatches,
    stripe_events_abandoned,
    wallet_mismatches,
)
from billing.services.credits import credits_adjust
from billing.stripe_client import payments_configured
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
        reconcile = sub.add_parser(
            "reconcile",
            help="Check every wallet against its entries and lots; every payment against its "
            "grant and take-backs in the ledger, and against what Stripe says happened to it "
            "(paid, refunded amount, disputes); and that no Stripe event was given up on. "
            "Exits 1 and prints each difference.",
        )
        reconcile.add_argument(
            "--no-stripe",
            action="store_true",
            help="Skip the questions to Stripe (one or two calls per payment).",
        )
        reconcile.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            default=None,
            help="Ask Stripe only about payments created on or after this date (YYYY-MM-DD).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(**options)

    def _user(self, email: str) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        return user

    def _grant(self, *, email: str, credits: int, reason: str, actor: str | None, **_: Any) -> None:

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

    def _reconcile(self, *, no_stripe: bool, since: dt.date | None, **_: Any) -> None:
        problems = [
            f"wallet {m.wallet_id} (user {m.user_id}): balance {m.balance}, "
            f"entries sum {m.entries_total}, lots hold {m.lots_total}"
            for m in wallet_mismatches()
        ]
        problems += payment_mismatches() + payment_reversal_mismatches()
        problems += stripe_events_abandoned()
        if no_stripe:
            pass
        elif not payments_configured():
            self.stdout.write("payments are not configured: Stripe was not asked")
        else:
            start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC) if since else None
            try:
                problems += payment_stripe_mismatches(since=start)
            except ApiError as error:
                raise CommandError(f"Stripe could not be asked: {error.message}") from error
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} difference(s) found.", returncode=1)
        self.stdout.write("ledger reconciled: no differences")
