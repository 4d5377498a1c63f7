#!/usr/bin/env bash
# Run examples/ci/github-workflow.yml's steps on this machine (plan, shards on two
# engines at once, publish), so the example is known to work: scripts/ci_local.py.
# An argument: the repository prefix to publish under (default: a new one).
# Starts what it needs: the engine, the registry and the seed image (bootstrap.sh),
# and the second engine (second-engine.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/second-engine.sh >/dev/null
. scripts/lib.sh
export STACKBAKE_REGISTRY
exec .venv/bin/python scripts/ci_local.py "$@"
