# shellcheck shell=bash
# Sourced by the other scripts (and by tests/conftest.py, to learn the default):
# the one place that names the local registry, and the way to reach this
# machine's Debian mirror without touching its own apt state.

# host:port of the registry the tests and examples push to.
: "${STACKBAKE_REGISTRY:=localhost:5000}"
export STACKBAKE_REGISTRY

# The Debian mirror this machine's apt already uses (read, never written down).
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && !/security/ {sub(/\[[^]]*\] */, ""); print $2; exit}' \
    /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt/sources*" >&2; return 1; }
  echo "$uri"
}

# apt_in DIR 'deb URI SUITE main' APT-GET-ARGS...: apt-get against that one
# source, with its lists and caches kept in DIR, so the machine's apt is left alone.
apt_in() {
  local dir=$1 line=$2
  shift 2
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "$line" >"$dir/sources.list"
  apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" "$@"
}
