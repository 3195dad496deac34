"""Writes of billing: `credits` (the ledger), `payments` and `webhooks` (Stripe)."""
