"""`make run` calls this: make sure a local staff account exists and say how to log in, once.

The staff console and Django's admin ask for a second factor, so the admin also gets an
authenticator secret (for an app such as Google Authenticator or 1Password) and a one-time
recovery code, printed with the password. `--new-two-factor` prints a fresh pair later.
"""

import secrets

from allauth.account.models import EmailAddress
from allauth.mfa.utils import is_mfa_enabled
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from accounts.services.two_factor import two_factor_reset

LOCAL_ADMIN_EMAIL = "admin@easel.local"


class Command(BaseCommand):
    help = (
        "Create the local admin account if there is none; print its e-mail, password and "
        "two-factor set-up once."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--email", default=LOCAL_ADMIN_EMAIL)
        parser.add_argument(
            "--new-two-factor",
            action="store_true",
            help="Replace the admin's authenticator secret and recovery codes and print them.",
        )

    def handle(self, *args: object, email: str, new_two_factor: bool, **options: object) -> None:
        admin = User.objects.filter(email__iexact=email, is_superuser=True).first()
        if new_two_factor:
            if admin is None:
                raise CommandError(f"No admin account {email}.")
            self._print_two_factor(admin)
            return
        if admin is not None:
            if not is_mfa_enabled(admin):  # made before the console asked for a second factor
                self._print_two_factor(admin)
            return
        if User.objects.filter(is_superuser=True).exists():
            return  # someone set up their own admin: leave it alone
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            admin = User.objects.create_superuser(email=email, password=password)
            # A verified address, so allauth lets the admin log in straight away.
            EmailAddress.objects.create(user=admin, email=email, verified=True, primary=True)
        self.stdout.write(f"Local admin created: {email} / {password} (shown only this once)")
        self._print_two_factor(admin)

    def _print_two_factor(self, admin: User) -> None:
        setup = two_factor_reset(user=admin)
        self.stdout.write(
            "Two-factor for the staff console (/console/) and /admin/: add this key to an "
            f"authenticator app: {setup.secret}\n"
            f"  (or open {setup.otpauth_url} with it)\n"
            f"  No app at hand? Sign in once with the recovery code {setup.recovery_code}.\n"
            "  New ones: python manage.py ensure_local_admin --new-two-factor"
        )
