#!/usr/bin/env bash
# A tiny offline base image for tests and examples on machines that cannot pull
# from public registries: IMAGE (default $STACKBAKE_REGISTRY/seed/busybox:1.35)
# for linux/amd64 and linux/arm64, built from the static busybox binaries of
# Debian's busybox-static package, pushed to its registry and kept in the local
# image store. Idempotent: prints IMAGE and does nothing else when its registry
# already has the tag. Needs the engine (scripts/engine-up.sh), not root.
set -euo pipefail
trap 'echo "seed-image: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
image=${1:-$STACKBAKE_REGISTRY/seed/busybox:1.35}
host=${image%%/*} path=${image#*/}

index_types=application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json
if curl -fsI -o /dev/null -H "Accept: $index_types" "http://$host/v2/${path%:*}/manifests/${path##*:}"; then
  echo "$image"
  exit 0
fi

work=/var/tmp/seed-busybox
mkdir -p "$work/ctx"
if [ ! -x "$work/ctx/busybox-arm64" ] || [ ! -x "$work/ctx/busybox-amd64" ]; then
  src="deb [arch=amd64,arm64] $(debian_mirror) bookworm main"
  arches=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
  apt_in "$work/apt" "$src" "${arches[@]}" update >/dev/null
  for arch in amd64 arm64; do
    rm -rf "$work/x" "$work"/busybox-static_*_"$arch".deb
    (cd "$work" && apt_in "$work/apt" "$src" "${arches[@]}" download "busybox-static:$arch" >/dev/null 2>&1)
    dpkg-deb -x "$work"/busybox-static_*_"$arch".deb "$work/x"
    cp "$work/x/bin/busybox" "$work/ctx/busybox-$arch"
  done
fi
cat >"$work/ctx/Dockerfile" <<'DF'
FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
DF
docker buildx build --platform linux/amd64,linux/arm64 -t "$image" --push -q "$work/ctx" >/dev/null
docker pull -q "$image" >/dev/null
echo "$image"
