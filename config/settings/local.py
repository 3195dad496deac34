"""`make run`: embedded defaults, nothing to set up."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# Local webhook endpoints may point at this machine; production refuses loopback addresses.
WEBHOOKS_ALLOW_LOOPBACK = True
