#!/usr/bin/env bash
# The project's main job, from a fresh machine: bootstrap (venv, engine, seed
# image), then validate, plan and build the example hierarchy offline against
# the seed image. Extra arguments go to `stackbake build` (e.g. --push, -j 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/stackbake validate -f builds.yaml.example
.venv/bin/stackbake plan -f builds.yaml.example
exec .venv/bin/stackbake build -f builds.yaml.example "$@"
