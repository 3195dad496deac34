"""Writes of the generation app, one module per area."""
