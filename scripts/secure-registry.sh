#!/usr/bin/env bash
# A private registry as the seed material runs one, for the tests of stackbake's
# private-registry support: docker-registry with TLS from a private CA and htpasswd
# (bcrypt) auth, beside the plain one of scripts/engine-up.sh. Needs root (re-runs
# itself through sudo), engine-up.sh first (docker0 must exist).
#
#   secure-registry.sh [start]   make the CAs, certificates and htpasswd once, start the
#                                three instances (running healthy ones are kept), print
#                                shell variables describing them (for eval or a fixture)
#   secure-registry.sh env       print the variables only (the registry must be running)
#   secure-registry.sh stop      stop the instances (state kept; `purge` removes it)
#
# Three instances share one storage folder and one htpasswd:
#   HOST:PORT      read-write, TLS (certificate from $STATE/ca.crt) + htpasswd
#   HOST:PORT+1    the same storage read-only (every write answers "405 Method Not
#                  Allowed"): a registry that refuses the push
#   HOST:PORT+2    read-write, its certificate from another CA: "x509: certificate
#                  signed by unknown authority" even for a client that trusts ca.crt
#
# HOST is not loopback: dockerd treats 127.0.0.0/8 (and any name resolving there) as
# insecure registries, skipping certificate checks, and imagetools speaks plain HTTP to
# them, so an untrusted certificate could not be tested. HOST is docker0's address (on
# this host only, reachable from containers), else the first global IPv4; the listener
# binds to it alone. SECURE_REGISTRY_HOST / _PORT override them.
#
# Only Debian's base tools and docker-registry: openssl for the CAs, perl's crypt()
# (libxcrypt does bcrypt "$2b$") for the htpasswd line. The password is generated, kept
# in $STATE/password (0600) and never put on a command line.
set -euo pipefail

STATE=${SECURE_REGISTRY_STATE:-/var/lib/stackbake-secure-registry}
LOG=${SECURE_REGISTRY_LOG:-/var/log/stackbake-secure-registry.log}
USER_NAME=${SECURE_REGISTRY_USER:-stackbake}
# bcrypt cost: the registry runs bcrypt on EVERY authenticated request (no cache in 2.8):
# one curl request measured ~155 ms at cost 10, ~64 ms at cost 4, ~18 ms without auth.
COST=${SECURE_REGISTRY_BCRYPT_COST:-04}

pick_host() {  # docker0's address (host-local, reachable from containers), else first global IPv4
  if [ -n "${SECURE_REGISTRY_HOST:-}" ]; then echo "$SECURE_REGISTRY_HOST"; return; fi
  local a
  a=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{split($4, x, "/"); print x[1]; exit}')
  [ -n "$a" ] || a=$(ip -4 -o addr show scope global | awk '{split($4, x, "/"); print x[1]; exit}')
  echo "$a"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

pick_port() {
  local p=${SECURE_REGISTRY_PORT:-5443}
  while ! { port_free "$p" && port_free $((p + 1)) && port_free $((p + 2)); }; do p=$((p + 3)); done
  echo "$p"
}

make_cert() {  # $1 CA name (ca|rogue-ca), $2 cert name, $3 host: CA once, cert per SAN
  local ca=$1 crt=$2 host=$3 san
  [ -s "$STATE/$ca.crt" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -keyout "$STATE/$ca.key" -out "$STATE/$ca.crt" -subj "/CN=stackbake test $ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san="IP:$host"; else san="DNS:$host"; fi
  if [ -s "$STATE/$crt.crt" ] && [ "$(cat "$STATE/$crt.san" 2>/dev/null)" = "$san" ]; then
    return
  fi
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -keyout "$STATE/$crt.key" \
    -out "$STATE/$crt.csr" -subj "/CN=$host" 2>/dev/null
  printf '%s\n' "subjectAltName=$san" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
    > "$STATE/$crt.ext"
  openssl x509 -req -in "$STATE/$crt.csr" -CA "$STATE/$ca.crt" -CAkey "$STATE/$ca.key" \
    -CAcreateserial -days 825 -sha256 -extfile "$STATE/$crt.ext" \
    -out "$STATE/$crt.crt" 2>/dev/null
  echo "$san" > "$STATE/$crt.san"
  chmod 600 "$STATE/$ca.key" "$STATE/$crt.key"
  chmod 644 "$STATE/$ca.crt" "$STATE/$crt.crt"
}

make_htpasswd() {  # bcrypt line "USER:$2b$COST$...", password read from a file, never argv
  [ -s "$STATE/password" ] || (umask 077; openssl rand -hex 16 > "$STATE/password")
  [ -s "$STATE/htpasswd" ] && return
  local salt
  # 16 random bytes as bcrypt's 22-char salt (alphabet ./A-Za-z0-9); libxcrypt normalises
  # the unused low bits of the last character.
  salt=$(openssl rand -base64 16 | tr -d '=\n' | tr '+' '.' | cut -c1-22)
  (umask 077; SALT=$salt COST=$COST perl -e '
      my $pw = <STDIN>; chomp $pw;
      my $h = crypt($pw, "\$2b\$$ENV{COST}\$" . $ENV{SALT});
      defined $h && $h =~ /^\$2b\$\d\d\$.{53}$/ or die "crypt() has no bcrypt here\n";
      print "$ARGV[0]:$h\n";' "$USER_NAME" < "$STATE/password" > "$STATE/htpasswd")
}

write_config() {  # $1 name, $2 addr, $3 readonly(true|false), $4 cert name
  cat > "$STATE/$1.yml" <<YML
version: 0.1
log:
  level: info
  fields: {service: stackbake-secure-registry, instance: $1}
storage:
  filesystem: {rootdirectory: $STATE/data}
  delete: {enabled: true}
  maintenance:
    uploadpurging: {enabled: false}
    readonly: {enabled: $3}
http:
  addr: $2
  secret: $(cat "$STATE/http-secret")
  tls:
    certificate: $STATE/$4.crt
    key: $STATE/$4.key
auth:
  htpasswd:
    realm: stackbake-secure-registry
    path: $STATE/htpasswd
YML
}

healthy() {  # 401 from /v2/ over verified TLS = up, TLS and auth on; $2 CA (default ca)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$STATE/${2:-ca}.crt" \
    "https://$1/v2/" 2>/dev/null || true)
  [ "$code" = 401 ]
}

start_one() {  # $1 name, $2 host:port, $3 CA that signed its cert
  if [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null && healthy "$2" "$3"; then
    return
  fi
  # Own session (setsid): survives the caller's process group being killed; no stdin.
  setsid docker-registry serve "$STATE/$1.yml" >>"$LOG" 2>&1 </dev/null &
  echo $! > "$STATE/$1.pid"
  for _ in $(seq 100); do healthy "$2" "$3" && return; kill -0 "$(cat "$STATE/$1.pid")" || break
    sleep 0.1; done
  echo "secure-registry: $1 did not come up on https://$2 (see $LOG)" >&2
  exit 1
}

stop_all() {
  local f p
  for f in "$STATE"/rw.pid "$STATE"/ro.pid "$STATE"/untrusted.pid; do
    [ -s "$f" ] || continue
    p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null && grep -qa docker-registry "/proc/$p/cmdline"; then
      kill "$p"
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
}

print_env() {
  local addr
  addr=$(cat "$STATE/addr")
  echo "SECURE_REGISTRY=$addr"
  echo "SECURE_REGISTRY_READONLY=${addr%:*}:$((${addr##*:} + 1))"
  echo "SECURE_REGISTRY_UNTRUSTED=${addr%:*}:$((${addr##*:} + 2))"
  echo "SECURE_REGISTRY_CA=$STATE/ca.crt"
  echo "SECURE_REGISTRY_USER=$USER_NAME"
  echo "SECURE_REGISTRY_PASSWORD_FILE=$STATE/password"
}

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "secure-registry: run it as root (no sudo here)" >&2; exit 1; }
  exec sudo env "SECURE_REGISTRY_HOST=${SECURE_REGISTRY_HOST:-}" \
    "SECURE_REGISTRY_PORT=${SECURE_REGISTRY_PORT:-}" bash "$0" "$@"
fi

case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  purge) stop_all; rm -rf "$STATE"; exit 0 ;;
  env) print_env; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|env|stop|purge]" >&2; exit 2 ;;
esac

mkdir -p "$STATE/data"
host=$(pick_host)
[ -n "$host" ] || { echo "secure-registry: no global IPv4 address on this machine" >&2; exit 1; }
case "$host" in 127.*|localhost|::1) echo "secure-registry: $host is loopback (insecure to docker)" >&2; exit 1 ;; esac
old=$(cat "$STATE/addr" 2>/dev/null || true)
if [ -n "$old" ] && [ "${old%:*}" = "$host" ] && healthy "$old" \
   && { [ -z "${SECURE_REGISTRY_PORT:-}" ] || [ "$SECURE_REGISTRY_PORT" = "${old##*:}" ]; }; then
  port=${old##*:}  # keep the running instances and their port
else
  stop_all
  port=$(pick_port)
fi
echo "$host:$port" > "$STATE/addr"
[ -s "$STATE/http-secret" ] || (umask 077; openssl rand -hex 16 > "$STATE/http-secret")
make_cert ca server "$host"
make_cert rogue-ca rogue "$host"
make_htpasswd
write_config rw "$host:$port" false server
write_config ro "$host:$((port + 1))" true server
write_config untrusted "$host:$((port + 2))" false rogue
chmod 600 "$STATE"/rw.yml "$STATE"/ro.yml "$STATE"/untrusted.yml
start_one rw "$host:$port" ca
start_one ro "$host:$((port + 1))" ca
start_one untrusted "$host:$((port + 2))" rogue-ca
print_env
