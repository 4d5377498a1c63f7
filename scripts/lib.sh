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

# start_dockerd NAME PIDFILE EXEC-ROOT HOST [DOCKERD-ARGS...]: starts a dockerd
# in its own session (Ctrl-C in the calling terminal, or a test's process
# group, must not stop it), logging to /var/log/NAME.log, and waits until it
# answers at HOST. A daemon can exit on its own before it serves the API:
# "context deadline exceeded" right after "Daemon has completed initialization"
# is dockerd 26 giving up on BuildKit loading its build cache within 10 s
# (moby#48569; see scripts/engine-up.sh). That load takes about as long each
# time, so a few attempts can pass where one fails; it is started up to five
# times, and the last failure says how to shrink the cache. A killed daemon
# leaves pid files behind; if their pid was reused by another process, dockerd
# (or its containerd) would refuse to start, so those are removed first.
start_dockerd() {
  local name=$1 pidfile=$2 exec_root=$3 host=$4 log=/var/log/$1.log attempt daemon f pid seen
  local timed_out
  shift 4
  seen=$(stat -c %s "$log" 2>/dev/null || echo 0)
  for attempt in 1 2 3 4 5; do
    for f in "$pidfile:dockerd" "$exec_root/containerd/containerd.pid:containerd"; do
      pid=$(cat "${f%:*}" 2>/dev/null) || continue
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${f#*:}" ] || rm -f "${f%:*}"
    done
    # -w: $! stays the daemon's (or its waiting parent's) pid.
    setsid -w nohup dockerd --iptables=false --pidfile "$pidfile" --exec-root "$exec_root" \
      -H "$host" "$@" >>"$log" 2>&1 </dev/null &
    daemon=$!
    for _ in $(seq 60); do
      DOCKER_HOST=$host docker info >/dev/null 2>&1 && return 0
      kill -0 "$daemon" 2>/dev/null || break
      sleep 1
    done
    echo "$name (attempt $attempt) did not answer at $host; $log ends:" >&2
    tail -20 "$log" >&2
    if kill "$daemon" 2>/dev/null; then
      while kill -0 "$daemon" 2>/dev/null; do sleep 1; done
    fi
  done
  # Attempts that ended so: the deadline after BuildKit's start, before the API served.
  timed_out=$(tail -c +"$((seen + 1))" "$log" | awk '
    /Daemon has completed initialization/ { started = 1 }
    /API listen on/ { started = 0 }
    started && /context deadline exceeded/ { n++; started = 0 }
    END { print n + 0 }')
  if [ "$timed_out" != 0 ]; then
    echo "$name: $timed_out of 5 attempts ended as BuildKit failed to load its build cache within" \
      "dockerd's 10 s (moby#48569): the cache holds too many records. Start it again (an" \
      "attempt in a few passes), then shrink the cache:" \
      "DOCKER_HOST=$host docker builder prune -f --filter unused-for=10m" \
      "(the GC policy in scripts/daemon.json keeps it that small from then on)." >&2
  fi
  return 1
}
