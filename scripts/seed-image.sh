#!/usr/bin/env bash
# A tiny offline base image for tests and examples on machines that cannot pull
# from public registries: $STACKBAKE_REGISTRY/seed/busybox:1.35 for linux/amd64
# and linux/arm64, built from the static busybox binaries of Debian's
# busybox-static package and pushed to the local registry (and kept in the
# local image store). Idempotent: does nothing when the registry has it.
set -euo pipefail
registry=${STACKBAKE_REGISTRY:-localhost:5000}
image=${1:-$registry/seed/busybox:1.35}
name=${image#*/}
if curl -fs -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$registry/v2/${name%:*}/manifests/${name##*:}"; then
  echo "$image"; exit 0
fi
work=/var/tmp/seed-busybox
mkdir -p "$work/lists/partial" "$work/ctx"
if [ ! -x "$work/ctx/busybox-arm64" ] || [ ! -x "$work/ctx/busybox-amd64" ]; then
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
  echo "deb [arch=amd64,arm64] $uri bookworm main" > "$work/sources.list"
  o=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$work/lists" -o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
  apt-get "${o[@]}" update -q >/dev/null
  for arch in amd64 arm64; do
    rm -rf "$work/x" "$work"/busybox-static_*_"$arch".deb
    (cd "$work" && apt-get "${o[@]}" download "busybox-static:$arch" >/dev/null 2>&1)
    dpkg-deb -x "$work"/busybox-static_*_"$arch".deb "$work/x"
    cp "$work/x/bin/busybox" "$work/ctx/busybox-$arch"
  done
fi
cat > "$work/ctx/Dockerfile" <<'DF'
FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
DF
docker buildx build --platform linux/amd64,linux/arm64 -t "$image" --push -q "$work/ctx" >/dev/null
docker pull -q "$image" >/dev/null
echo "$image"
