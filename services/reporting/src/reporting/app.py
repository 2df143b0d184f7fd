"""Wiring of the reporting service: what it consumes, its migrations, its HTTP routes."""
from pathlib import Path

from govkit.service import ServiceSpec

SPEC = ServiceSpec(
    name="reporting",
    title="Reporting service",
    description="Weekly risk assessment for grid, village and town; KPIs; livelihood priorities; exports.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
)
