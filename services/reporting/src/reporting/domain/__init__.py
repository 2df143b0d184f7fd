"""The reporting service's pure rules: no database, web framework or broker (docs/architecture.md)."""
