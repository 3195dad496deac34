"""Production settings pass Django's deployment checklist without a single warning."""

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _operator_certificate() -> dict[str, str]:
    """A signing chain standing in for the operator's (a CA on the C2PA trust list)."""
    from generation.provenance.certificates import signing_chain_create

    folder = Path(tempfile.mkdtemp(prefix="operator-c2pa-"))
    files = signing_chain_create(folder=folder, organisation="Example Operator Ltd")
    return {"EASEL_C2PA_CERTIFICATE": str(files.chain), "EASEL_C2PA_PRIVATE_KEY": str(files.key)}


def _check_deploy(*tags: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "easel.example.com",
        "SITE_URL": "https://easel.example.com",
        **_operator_certificate(),
        **extra,
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            *(arg for tag in tags for arg in ("--tag", tag)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_security_checks_pass_under_production_settings():
    result = _check_deploy("security")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_no_issue_at_all_under_production_settings():
    """Everything --deploy runs, drf-spectacular's schema check included (a warning there means
    an API operation documented wrongly: name nested serializers, annotate responses)."""
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_check_can_fail_so_the_test_above_means_something():
    result = _check_deploy("security", SECRET_KEY="short", SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout  # the weak SECRET_KEY


def test_production_refuses_the_development_signing_certificate(settings):
    development = Path(settings.EASEL_C2PA_CERTIFICATE)
    result = _check_deploy(
        "provenance",
        EASEL_C2PA_CERTIFICATE=str(development),
        EASEL_C2PA_PRIVATE_KEY=str(development.parent / "key.pem"),
    )
    assert result.returncode != 0 and "generation.E002" in result.stderr + result.stdout
    missing = _check_deploy("provenance", EASEL_C2PA_CERTIFICATE="/nonexistent/chain.pem")
    assert missing.returncode != 0 and "generation.E001" in missing.stderr + missing.stdout
