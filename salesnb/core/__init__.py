"""salesnb.core: see docs/architecture.md."""
