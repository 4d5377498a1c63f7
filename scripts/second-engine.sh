#!/usr/bin/env bash
# A second, independent Docker engine on this host, for the tests that need one: its own
# image store, BuildKit and build cache, its own containerd, at
# unix:///var/run/docker-b.sock. With the first engine and the shared registry it
# stands in for a second CI runner (or native builder) that shares only the registry.
#   second-engine.sh          start it (idempotent), print its version
#   second-engine.sh stop     stop it (waits until it is gone) and remove its bridge
# It needs a bridge of its own: with --bridge=none a second dockerd was seen to leave
# the first engine without docker0. Needs root (re-runs itself through sudo).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
sock=/var/run/docker-b.sock pid=/var/run/docker-b.pid br=br-sbb
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "second-engine: run it as root" >&2; exit 1; }
  exec sudo bash "$0" "$@"
fi
if [ "${1:-}" = stop ]; then
  p=$(cat "$pid" 2>/dev/null || true)
  [ -n "$p" ] && kill "$p" 2>/dev/null || true
  for _ in $(seq 120); do [ -n "$p" ] && kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
  ip link del "$br" 2>/dev/null || true
  exit 0
fi
command -v dockerd >/dev/null || { echo "second-engine: no dockerd (run scripts/engine-up.sh)" >&2; exit 1; }
if DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1; then
  DOCKER_HOST=unix://$sock docker version --format 'second engine {{.Server.Version}} at unix://'$sock
  exit 0
fi
ip link show "$br" >/dev/null 2>&1 || {
  ip link add "$br" type bridge
  ip addr add 10.213.0.1/24 dev "$br"
}
ip link set "$br" up
mkdir -p /var/lib/docker-b /var/run/docker-b
start_dockerd dockerd-b "$pid" /var/run/docker-b "unix://$sock" \
  --bridge="$br" --data-root /var/lib/docker-b
DOCKER_HOST=unix://$sock docker version --format 'second engine {{.Server.Version}} at unix://'$sock
