"""salesnb.data: see docs/architecture.md."""
