"""Cases service: cases found in the grids, the closed loop from report to verified close, deadlines,
escalation, duplicates, Open311."""
