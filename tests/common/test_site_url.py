"""The public address: it follows the port served when SITE_URL is unset, and production
refuses to start without SITE_URL."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_SITE_URL = (
    "import django; django.setup(); from common.site import site_url; print(site_url('/v1'))"
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "EASEL_WEB_PORT")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_site_url_the_address_is_the_port_make_run_serves():
    result = _python(
        PRINT_SITE_URL, DJANGO_SETTINGS_MODULE="config.settings.local", EASEL_WEB_PORT="18777"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:18777/v1"


def test_site_url_wins_when_set():
    result = _python(
        PRINT_SITE_URL,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        EASEL_WEB_PORT="18777",
        SITE_URL="https://easel.example/",
    )
    assert result.stdout.strip() == "https://easel.example/v1"


def test_production_refuses_to_start_without_site_url():
    result = _python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="easel.example.com",
    )
    assert result.returncode != 0
    assert "Set the SITE_URL environment variable" in result.stderr


def test_the_make_run_web_process_listens_on_the_port_site_url_names():
    procfile = (ROOT / "platform" / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "--port ${EASEL_WEB_PORT:-8000}" in web
    assert "EASEL_WEB_PORT=$${PORT:-8000}" in (ROOT / "Makefile").read_text()
