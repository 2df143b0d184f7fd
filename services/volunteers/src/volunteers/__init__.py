"""Volunteers service: Registry of party members, grid managers, workers and volunteers; fair and fast dispatch
of field tasks; hours and points."""
