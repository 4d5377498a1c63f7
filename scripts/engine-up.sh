#!/usr/bin/env bash
# Installs and starts a real build engine on a Debian 12 host that lacks one:
# Docker Engine 26 (containerd image store, BuildKit built in), the buildx
# plugin, QEMU binfmt for linux/arm64 and a local registry. Idempotent: where
# an engine, buildx, arm64 emulation and the registry already answer, it only
# prints their versions.
#
# Debian 12 ships no buildx and only Docker 20.10, so both come from the
# Debian 13 (trixie) suite of the mirror this machine already uses: the mirror
# is read from the machine's own apt sources, never written here.
#
# STACKBAKE_REGISTRY (host:port, default below) is where the registry listens.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
registry=${STACKBAKE_REGISTRY:-localhost:5000}
port=${registry##*:}

if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

engine_ready() {
  docker info >/dev/null 2>&1 \
    && docker buildx version >/dev/null 2>&1 \
    && [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
    && curl -fs "http://$registry/v2/" >/dev/null 2>&1
}
if engine_ready; then
  docker buildx version
  docker version --format 'engine {{.Server.Version}}'
  exit 0
fi

state=/var/tmp/engine-apt
mkdir -p "$state/lists/partial" "$state/debs"
pkgs=(containerd runc tini iptables qemu-user-static binfmt-support docker-registry busybox-static curl)
need_apt=0
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need_apt=1; done
if [ "$need_apt" = 1 ]; then
  apt-get update -q >/dev/null
  apt-get install -y -q "${pkgs[@]}" >/dev/null
fi

if ! dockerd --version 2>/dev/null | grep -q 'version 2[6-9]' || ! [ -x /usr/libexec/docker/cli-plugins/docker-buildx ]; then
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
  echo "deb $uri trixie main" > "$state/sources.list"
  o=(-o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$state/lists")
  apt-get "${o[@]}" update -q >/dev/null
  (cd "$state/debs" && rm -f ./*.deb && apt-get "${o[@]}" download docker.io docker-buildx 2>/dev/null)
  dpkg -i "$state"/debs/docker.io_*.deb "$state"/debs/docker-buildx_*.deb >/dev/null
fi

mkdir -p /etc/docker
[ -s /etc/docker/daemon.json ] || echo '{"features":{"containerd-snapshotter":true}}' > /etc/docker/daemon.json
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable >/dev/null 2>&1 || true

if ! docker info >/dev/null 2>&1; then
  nohup dockerd --iptables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null || { tail -20 /var/log/dockerd.log >&2; exit 1; }
fi

if ! curl -fs "http://$registry/v2/" >/dev/null 2>&1; then
  mkdir -p /var/lib/test-registry
  cat > /etc/docker/test-registry.yml <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/test-registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  nohup docker-registry serve /etc/docker/test-registry.yml >/var/log/test-registry.log 2>&1 &
  for _ in $(seq 30); do curl -fs "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 1; done
  curl -fs "http://$registry/v2/" >/dev/null || { tail -20 /var/log/test-registry.log >&2; exit 1; }
fi
docker buildx version
docker version --format 'engine {{.Server.Version}}'
