"""salesnb.forecast: see docs/architecture.md."""
