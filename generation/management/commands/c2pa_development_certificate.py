"""`make run` calls this: the development certificate that signs content credentials locally."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from generation.provenance.certificates import development_chain_ensure


class Command(BaseCommand):
    help = (
        "Make the development C2PA signing certificate under var/c2pa/ if it is missing or "
        "about to expire (idempotent). Does nothing when EASEL_C2PA_CERTIFICATE names another "
        "certificate: production signs with the operator's own."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(settings.VAR_DIR) / "c2pa"
        if Path(settings.EASEL_C2PA_CERTIFICATE).parent != folder:
            self.stdout.write("EASEL_C2PA_CERTIFICATE names the operator's certificate.")
            return
        files = development_chain_ensure(folder=folder)
        self.stdout.write(
            f"Content credentials are signed with the development certificate {files.chain}; "
            f"readers trust it only with {files.root} as a trust anchor."
        )
