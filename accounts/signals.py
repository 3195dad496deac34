"""Signals other apps hook into. Accounts never imports billing or generation to write there."""

from django.dispatch import Signal

# Sent by accounts.services.users.user_delete inside its transaction, before the user is
# anonymised, with `user=`. Receivers remove what they hold about the person (images, shares,
# webhooks) and anonymise what must stay for accounting (ledger references). A receiver that
# raises rolls the whole deletion back, so the account is never half deleted.
user_deleting = Signal()
