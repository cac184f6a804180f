"""salesnb.cli: see docs/architecture.md."""
