"""salesnb.batch: see docs/architecture.md."""
