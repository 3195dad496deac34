"""Writes of the accounts app, one module per entity."""
