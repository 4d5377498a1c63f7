"""Quality gates: hadolint on Dockerfiles, and the checks, structure tests, scans and
SBOMs on every platform of a built image."""
