"""Reads of the moderation app, one module per area."""
