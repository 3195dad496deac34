"""Models and pipelines: the registry, the tiny built-in model, loading, the three operations.

Only GPU workers import the submodules that need torch; web processes use `registry` alone.
"""
