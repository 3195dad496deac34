"""Writes of the billing app, one module per concern: `credits` (the ledger), `payments` (Stripe)."""
