"""`manage.py check --deploy`: production signs content credentials with the operator's own
certificate (docs/generation.md, "Provenance"), never the development one."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from generation.provenance.certificates import is_development_certificate


@register("provenance", deploy=True)
def content_credentials_certificate_check(**_: Any) -> list[CheckMessage]:
    certificate = Path(settings.EASEL_C2PA_CERTIFICATE)
    hint = (
        "Set EASEL_C2PA_CERTIFICATE (and EASEL_C2PA_PRIVATE_KEY or EASEL_C2PA_SIGN_CALLBACK) to "
        "a certificate from a CA on the C2PA trust list."
    )
    if not certificate.is_file():
        return [
            Error(f"No C2PA signing certificate at {certificate}.", hint=hint, id="generation.E001")
        ]
    if is_development_certificate(certificate.read_bytes()):
        return [
            Error(
                "Content credentials would be signed with the development certificate, which "
                "no verifier trusts.",
                hint=hint,
                id="generation.E002",
            )
        ]
    if (
        settings.EASEL_C2PA_SIGN_CALLBACK is None
        and not Path(settings.EASEL_C2PA_PRIVATE_KEY).is_file()
    ):
        return [
            Error("No C2PA private key and no signing callback.", hint=hint, id="generation.E003")
        ]
    return []
