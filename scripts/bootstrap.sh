#!/usr/bin/env bash
# From a fresh clone on a fresh machine to ready-to-test, idempotently: the
# project's venv (.venv) with the package and its dev tools installed (again
# only when pyproject.toml or the Python changed), a running engine and the
# seed image. Prints one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.stackbake-installed

if ! "$venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  echo "bootstrap: created $venv"
fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$venv/bin/python" -V)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check -e '.[dev]'
  echo "$want" >"$stamp"
  echo "bootstrap: installed the project and its dev tools into $venv"
else
  echo "bootstrap: $venv is up to date"
fi
bash scripts/engine-up.sh | sed 's/^/bootstrap: /'
echo "bootstrap: seed image $(bash scripts/seed-image.sh)"
