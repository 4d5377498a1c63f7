#!/usr/bin/env bash
# Installs and starts a real build engine on a Debian 12 host that lacks one:
# Docker Engine 26 (containerd image store, BuildKit built in), the buildx
# plugin, QEMU binfmt for linux/arm64, a local registry at $STACKBAKE_REGISTRY
# (scripts/lib.sh), cosign (signing what is pushed) and skopeo (what the
# distribution commands copy images with). Idempotent: where all six already
# answer it only prints versions. Needs root for the rest: re-runs itself
# through sudo when it is not root.
#
# Debian 12 ships no buildx and only Docker 20.10, so both come from the
# Debian 13 (trixie) suite of the mirror this machine's apt already uses
# (scripts/lib.sh reads it from the apt sources); so does cosign (2.5, which
# Debian 12 lacks; it depends on libc6 only).
set -euo pipefail
trap 'echo "engine-up: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
export DEBIAN_FRONTEND=noninteractive
here=$(dirname "$0")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
registry=$STACKBAKE_REGISTRY

# Prints the first part that does not answer; nothing when all do.
missing() {
  docker info >/dev/null 2>&1 || { echo "docker engine"; return; }
  docker buildx version >/dev/null 2>&1 || { echo "docker buildx"; return; }
  grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "arm64 emulation (binfmt)"; return; }
  curl -fs -o /dev/null "http://$registry/v2/" || { echo "registry at $registry"; return; }
  command -v skopeo >/dev/null || { echo "skopeo"; return; }
  command -v cosign >/dev/null || echo "cosign"
}
versions() {
  docker version --format 'engine {{.Server.Version}} (client {{.Client.Version}})'
  docker buildx version
  echo "registry http://$registry/v2/ answers"
}

conf=/etc/docker/daemon.json old_default='{"features":{"containerd-snapshotter":true}}'
if [ -z "$(missing)" ]; then
  if [ ! -s "$conf" ] || [ "$(cat "$conf")" = "$old_default" ]; then
    echo "engine-up: the engine runs without scripts/daemon.json's BuildKit GC policy; stop" \
      "dockerd and run this again to install it" >&2
  fi
  versions
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "engine-up: run it as root (no sudo here)" >&2; exit 1; }
  exec sudo env STACKBAKE_REGISTRY="$registry" bash "$0" "$@"
fi

pkgs=(containerd runc tini iptables qemu-user-static binfmt-support docker-registry curl skopeo
  openssl iproute2)  # the last two: scripts/secure-registry.sh (certificates, addresses)
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q "${pkgs[@]}" >/dev/null
fi

# The daemon's configuration, scripts/daemon.json: the containerd image store,
# and a BuildKit GC that keeps only the build cache used in the last 10 minutes
# (and at most 2 GB). dockerd 26 gives BuildKit 10 s to load its cache records
# when it starts, then exits ("context deadline exceeded" right after "Daemon has
# completed initialization", moby#48569), and a few thousand records take that
# long: 4,000 took 11-12 s here, and one run of the tests leaves about 2,000. Build
# history (records of past builds, kept 48 h by default) is kept 6 h.
# Written before docker.io is installed, in case its package starts the daemon. A
# daemon.json of the machine's own is kept; one an older engine-up wrote is replaced.
mkdir -p /etc/docker
if [ ! -s "$conf" ] || [ "$(cat "$conf")" = "$old_default" ]; then
  cp "$here/daemon.json" "$conf"
elif ! grep -q '"builder"' "$conf"; then
  echo "engine-up: $conf has no builder GC policy; see scripts/daemon.json for one" >&2
fi

# What Debian 12 lacks or has too old, from trixie (the client only where even
# that is missing).
debs=()
dockerd --version 2>/dev/null | grep -q 'version 2[6-9]' || debs+=(docker.io)
[ -x /usr/libexec/docker/cli-plugins/docker-buildx ] || debs+=(docker-buildx)
command -v docker >/dev/null || debs+=(docker-cli)
command -v cosign >/dev/null || debs+=(cosign)
if [ ${#debs[@]} != 0 ]; then
  state=/var/tmp/engine-apt trixie="deb $(debian_mirror) trixie main"
  apt_in "$state" "$trixie" update >/dev/null
  rm -rf "$state/debs" && mkdir -p "$state/debs"
  (cd "$state/debs" && apt_in "$state" "$trixie" download "${debs[@]}" >/dev/null 2>&1)
  dpkg -i "$state"/debs/*.deb >/dev/null
fi

mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable >/dev/null 2>&1 || true

if ! docker info >/dev/null 2>&1; then
  # Run through sudo: let the calling user's group use the socket.
  group=()
  [ -z "${SUDO_GID:-}" ] || group=(--group "$SUDO_GID")
  start_dockerd dockerd /var/run/docker.pid /var/run/docker unix:///var/run/docker.sock "${group[@]}"
fi

if ! curl -fs -o /dev/null "http://$registry/v2/"; then
  # Serves loopback only: docker and BuildKit treat 127.0.0.0/8 (and localhost)
  # as an insecure (plain HTTP) registry without any daemon configuration.
  mkdir -p /var/lib/test-registry
  cat >/etc/docker/test-registry.yml <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/test-registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${registry##*:}
YML
  setsid nohup docker-registry serve /etc/docker/test-registry.yml \
    >/var/log/test-registry.log 2>&1 </dev/null &
  for _ in $(seq 30); do curl -fs -o /dev/null "http://$registry/v2/" && break; sleep 1; done
  curl -fs -o /dev/null "http://$registry/v2/" || { tail -20 /var/log/test-registry.log >&2; exit 1; }
fi

gap=$(missing)
[ -z "$gap" ] || { echo "engine-up: $gap does not answer" >&2; exit 1; }
versions
