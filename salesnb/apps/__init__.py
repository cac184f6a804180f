"""salesnb.apps: see docs/architecture.md."""
