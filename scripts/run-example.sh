#!/usr/bin/env bash
# The project's main job, from a fresh machine: bootstrap (venv, engine, seed
# image), then validate, plan and build the example hierarchy offline against
# the seed image, every gate on both platforms. Extra arguments go to `stackbake
# build` (e.g. --push, which also signs and attests, then `stackbake verify`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The example signs what it pushes (sign: in builds.yaml.example) with a throwaway key
# pair of this checkout, made once; its password only ever in the environment.
keys=.stackbake/example-keys
export EXAMPLE_COSIGN_PASSWORD=${EXAMPLE_COSIGN_PASSWORD:-example-only-not-a-secret}
if [ ! -s "$keys/cosign.key" ]; then
  mkdir -p "$keys"
  (cd "$keys" && COSIGN_PASSWORD=$EXAMPLE_COSIGN_PASSWORD cosign generate-key-pair >/dev/null 2>&1)
fi
.venv/bin/stackbake validate -f builds.yaml.example
.venv/bin/stackbake plan -f builds.yaml.example
exec .venv/bin/stackbake build -f builds.yaml.example "$@"
