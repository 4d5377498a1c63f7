"""Signing what is pushed with cosign, attesting its SBOMs, and verifying both."""
