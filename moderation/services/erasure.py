"""What moderation holds in a person's own words, removed when they delete their account.

Decisions, cases, strikes and suspensions stay: they are the safety record (repeat abuse, ban
evasion, the transparency figures) and name the account only by its anonymised row.
"""

from accounts.models import User
from moderation.models import Appeal, Report


def user_moderation_data_erase(*, user: User) -> None:
    Appeal.objects.filter(user=user).update(text="")
    Report.objects.filter(reporter=user).update(details="")
