"""salesnb.analytics: see docs/architecture.md."""
