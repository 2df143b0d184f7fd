"""Reporting service: Weekly risk assessment for grid, village and town; KPIs; livelihood priorities; exports."""
