"""Lifecycle and distribution of the built tree: archives, retention, air-gapped bundles."""
