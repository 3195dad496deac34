"""The one place that reads the environment. Every setting Easel has is documented in README.md."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local `.env` file is read when present; the process environment always wins over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
