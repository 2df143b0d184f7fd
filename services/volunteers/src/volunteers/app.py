"""Wiring of the volunteers service: what it consumes, its migrations, its HTTP routes."""
from pathlib import Path

from govkit.service import ServiceSpec

SPEC = ServiceSpec(
    name="volunteers",
    title="Volunteers service",
    description="Registry of party members, grid managers, workers and volunteers; fair and fast dispatch of field tasks; hours and points.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
)
