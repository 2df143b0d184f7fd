"""Wiring of the cases service: what it consumes, its migrations, its HTTP routes."""
from pathlib import Path

from govkit.service import ServiceSpec

SPEC = ServiceSpec(
    name="cases",
    title="Cases service",
    description="Cases found in the grids: the closed loop from report to verified close, deadlines, escalation, duplicates, Open311.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
)
