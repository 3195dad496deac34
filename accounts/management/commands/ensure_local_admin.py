"""`make run` calls this: make sure a local staff account exists and say how to log in, once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

LOCAL_ADMIN_EMAIL = "admin@easel.local"


class Command(BaseCommand):
    help = "Create the local admin account if there is none; print its e-mail and password once."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--email", default=LOCAL_ADMIN_EMAIL)

    def handle(self, *args: object, email: str, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(email=email, password=password)
            # A verified address, so allauth lets the admin log in straight away.
            from allauth.account.models import EmailAddress

            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        self.stdout.write(f"Local admin created: {email} / {password} (shown only this once)")
