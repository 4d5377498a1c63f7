#!/usr/bin/env bash
# The project's test command: bootstrap, then lint, format, types and tests,
# all from .venv and as strict as CI (check only, never fix). Every step runs;
# the exit code is non-zero when any failed. Extra arguments go to pytest,
# e.g. scripts/test.sh tests/e2e -x. With CI set, engine tests fail rather than skip.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
bash scripts/bootstrap.sh || exit
bin=.venv/bin
failed=()
step() { # LABEL COMMAND...
  echo "== $1"
  "${@:2}" || failed+=("$1")
}
step "ruff check" "$bin/ruff" check .
step "ruff format" "$bin/ruff" format --check .
step mypy "$bin/mypy"
step pytest "$bin/pytest" --strict-markers "$@"
if [ ${#failed[@]} != 0 ]; then
  printf 'test.sh: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
