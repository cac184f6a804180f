"""salesnb.reports: see docs/architecture.md."""
