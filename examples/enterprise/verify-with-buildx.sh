#!/usr/bin/env bash
# Build the enterprise example with plain `docker buildx build`, parents first, and
# check the images it produces on every platform they are built for.
#
# This is what `stackbake build` is meant to do for builds.yaml, written out by hand:
# it proves the Dockerfiles work on their own (offline, on the busybox seed) and gives
# stackbake's own build something to be compared with.
#
#   examples/enterprise/verify-with-buildx.sh [--no-cache] [--cache]
#
#   --no-cache    build every image from scratch (a cold build; the seed stays local)
#   --cache       also use the registry cache builds.yaml declares (cache_from/cache_to)
#
# Environment:
#   STACKBAKE_REGISTRY    registry host[:port] to push to (default localhost:5000)
#   STACKBAKE_NAMESPACE   repository prefix in it (default acme)
#   STACKBAKE_VERSION     image version tag (default 1.4.2, as in builds.yaml)
#   STACKBAKE_BASE_IMAGE  root image (default <registry>/seed/busybox:1.35;
#                         alpine:3.20 where Docker Hub is reachable)
#
# Needs: docker with buildx, a builder that can build linux/amd64 and linux/arm64
# (QEMU binfmt for the foreign one), and a registry the builder can push to and pull
# from, because every child image starts FROM its parent's pushed tag.
set -euo pipefail

host=${STACKBAKE_REGISTRY:-localhost:5000}
REGISTRY=$host/${STACKBAKE_NAMESPACE:-acme}
VERSION=${STACKBAKE_VERSION:-1.4.2}
BASE_IMAGE=${STACKBAKE_BASE_IMAGE:-$host/seed/busybox:1.35}
BOTH=linux/amd64,linux/arm64

no_cache=()
use_cache=false
for arg in "$@"; do
    case $arg in
        --no-cache) no_cache=(--no-cache) ;;
        --cache) use_cache=true ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "unknown option $arg (see --help)" >&2; exit 64 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/verify-enterprise.XXXXXX")
failures=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
ok() { printf '    ok   %s\n' "$*"; }
bad() { printf '    FAIL %s\n' "$*"; failures=$((failures + 1)); }

# ---------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------
docker buildx version >/dev/null
builder_platforms=$(docker buildx inspect 2>/dev/null | sed -n 's/^Platforms: *//p' | head -n1)
for p in linux/amd64 linux/arm64; do
    case ", $builder_platforms," in
        *", $p,"* | *", $p/"*) ;;
        *) echo "the current buildx builder cannot build $p (platforms: $builder_platforms)" >&2; exit 1 ;;
    esac
done
if ! docker buildx imagetools inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "cannot read the root image $BASE_IMAGE: make the offline seed with" \
        "scripts/seed-image.sh, or set STACKBAKE_BASE_IMAGE" >&2
    exit 1
fi

# ---------------------------------------------------------------------------
# Build, parents first: the order `stackbake plan -f builds.yaml` prints.
# ---------------------------------------------------------------------------
build() { # NAME CONTEXT PLATFORMS [buildx args...]
    local name=$1 context=$2 platforms=$3
    shift 3
    local cache=()
    if $use_cache; then
        cache=(--cache-from "type=registry,ref=$REGISTRY/cache/$name"
               --cache-to "type=registry,ref=$REGISTRY/cache/$name,mode=max")
    fi
    local start=$SECONDS
    built+=("$name")
    if docker buildx build --progress=plain "${no_cache[@]}" "${cache[@]}" \
        --platform "$platforms" \
        --build-arg "REGISTRY=$REGISTRY" --build-arg "VERSION=$VERSION" \
        --label "org.opencontainers.image.title=$name" \
        --label "org.opencontainers.image.version=$VERSION" \
        "$@" -t "$REGISTRY/$name:$VERSION" --push "$here/$context" \
        >"$logs/$name.log" 2>&1; then
        ok "$name ($platforms) in $((SECONDS - start))s"
    else
        bad "$name: docker buildx build failed; last lines of $logs/$name.log:"
        tail -n 30 "$logs/$name.log" | sed 's/^/         /'
        exit 1
    fi
}

# shop-api's `test` stage (builds.yaml `test: test`): must build, on every
# platform, before the image is published. Nothing is exported.
build_test() { # NAME CONTEXT PLATFORMS STAGE
    local name=$1 context=$2 platforms=$3 stage=$4 start=$SECONDS
    if docker buildx build --progress=plain "${no_cache[@]}" \
        --platform "$platforms" \
        --build-arg "REGISTRY=$REGISTRY" --build-arg "VERSION=$VERSION" \
        --target "$stage" "$here/$context" >"$logs/$name-$stage.log" 2>&1; then
        local passed
        passed=$(grep -c '^#[0-9]* [0-9.]* ok  ' "$logs/$name-$stage.log" || true)
        if [ "$passed" -gt 0 ]; then passed="$passed checks passed"; else passed="cached: passed before"; fi
        ok "$name --target $stage ($platforms) in $((SECONDS - start))s: $passed"
    else
        bad "$name: stage $stage failed; last lines of $logs/$name-$stage.log:"
        tail -n 30 "$logs/$name-$stage.log" | sed 's/^/         /'
        exit 1
    fi
}

built=()
say "Building into $REGISTRY (version $VERSION) from $BASE_IMAGE ${no_cache[*]}"
t0=$SECONDS
build base images/base "$BOTH" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "TZ=Asia/Shanghai"
build node images/runtimes/node "$BOTH"
build python images/runtimes/python "$BOTH"
build data images/business/data "$BOTH"
build web images/business/web "$BOTH"
build etl-worker apps/etl-worker "$BOTH"
build_test shop-api apps/shop-api "$BOTH" test
build shop-api apps/shop-api "$BOTH" --target runtime
build report-job apps/report-job linux/amd64      # depends_on: etl-worker (built above)
build shop-web apps/shop-web "$BOTH"              # FROM web, COPY --from shop-api
build_seconds=$((SECONDS - t0))
say "Built the whole tree in ${build_seconds}s"

# The order above is written by hand; when stackbake is installed, check it
# against the plan stackbake infers from builds.yaml (same variables).
if command -v stackbake >/dev/null 2>&1; then
    say "Comparing the build order with stackbake plan"
    if problems=$(stackbake plan --format json -f "$here/builds.yaml" \
        --var "REGISTRY=$REGISTRY" --var "VERSION=$VERSION" --var "BASE_IMAGE=$BASE_IMAGE" |
        python3 -c '
import json, sys
built = sys.argv[1:]
plan = json.load(sys.stdin)["targets"]
names = [t["name"] for t in plan]
if sorted(names) != sorted(built):
    print("targets differ: plan has", names, "the script built", built)
for t in plan:
    for p in t["parents"]:
        if built.index(p["name"]) > built.index(t["name"]):
            print(t["name"], "was built before its parent", p["name"])
' "${built[@]}" 2>&1) && [ -z "$problems" ]; then
        ok "every parent stackbake infers was built before its children"
    else
        bad "build order and stackbake plan disagree:"
        printf '         %s\n' "$problems"
    fi
fi

# ---------------------------------------------------------------------------
# Checks, on each platform an image is built for. No container needs a network
# (the web checks talk to 127.0.0.1 inside the container), so none gets one.
# ---------------------------------------------------------------------------
image() { echo "$REGISTRY/$1:$VERSION"; }
ca_line=$(sed -n 2p "$here/images/base/certs/company-ca.crt")

expect() { # WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}

# What every image inherits from base: arch, user, time zone, CA, healthcheck.
check_common() { # NAME PLATFORM
    local img arch out
    img=$(image "$1")
    case $2 in linux/amd64) arch=x86_64 ;; linux/arm64) arch=aarch64 ;; esac
    out=$(docker run --rm --network none --platform "$2" --entrypoint /bin/sh "$img" -c '
        echo "arch=$(uname -m)"
        echo "user=$(id -u):$(id -g):$(id -un)"
        echo "tz=$TZ/$(cat /etc/timezone)"
        grep -c -F "$1" /etc/ssl/certs/ca-certificates.crt | sed "s/^/ca=/"
        test -x /usr/local/bin/healthcheck.sh && echo health=executable
        echo "home=$(stat -c %u /home/app)"
    ' sh "$ca_line" 2>&1) || true
    expect "$1 $2: runs on $arch" "arch=$arch" "$(grep '^arch=' <<<"$out")"
    expect "$1 $2: non-root uid 10001" "user=10001:10001:app" "$(grep '^user=' <<<"$out")"
    expect "$1 $2: time zone" "tz=Asia/Shanghai/Asia/Shanghai" "$(grep '^tz=' <<<"$out")"
    expect "$1 $2: company CA in the trust bundle" "ca=1" "$(grep '^ca=' <<<"$out")"
    expect "$1 $2: healthcheck script" "health=executable" "$(grep '^health=' <<<"$out")"
    expect "$1 $2: home owned by app" "home=10001" "$(grep '^home=' <<<"$out")"
}

check_metadata() { # NAME
    local img
    img=$(image "$1")
    expect "$1: HEALTHCHECK runs healthcheck.sh" '["CMD","/usr/local/bin/healthcheck.sh"]' \
        "$(docker image inspect "$img" --format '{{json .Config.Healthcheck.Test}}')"
    expect "$1: OCI labels" "Acme Example Corp/$1/$VERSION" \
        "$(docker image inspect "$img" --format '{{index .Config.Labels "org.opencontainers.image.vendor"}}/{{index .Config.Labels "org.opencontainers.image.title"}}/{{index .Config.Labels "org.opencontainers.image.version"}}')"
    expect "$1: user" "10001:10001" "$(docker image inspect "$img" --format '{{.Config.User}}')"
}

platforms_of() { docker buildx imagetools inspect "$(image "$1")" | sed -n 's/^ *Platform: *\(linux\/[a-z0-9]*\)$/\1/p' | sort | paste -sd, -; }

say "Checking platforms of the pushed images"
for name in base node python data web etl-worker shop-api shop-web; do
    expect "$name: manifest list" "linux/amd64,linux/arm64" "$(platforms_of "$name")"
done
expect "report-job: amd64 only" "linux/amd64" "$(platforms_of report-job)"

say "Checking what every image inherits from base"
for name in base node python data web etl-worker shop-api shop-web report-job; do
    check_metadata "$name"
done
for p in linux/amd64 linux/arm64; do
    for name in base python node shop-web shop-api etl-worker; do
        check_common "$name" "$p"
    done
done
check_common report-job linux/amd64

say "Checking the runtimes"
for p in linux/amd64 linux/arm64; do
    out=$(docker run --rm --network none --platform "$p" "$(image python)" python3 --version 2>&1)
    case $out in "Python "*) ok "python $p: $out" ;; *) bad "python $p: python3 --version said [$out]" ;; esac
    out=$(docker run --rm --network none --platform "$p" "$(image node)" node --version 2>&1)
    case $out in v*) ok "node $p: $out" ;; *) bad "node $p: node --version said [$out]" ;; esac
    # The stub must not pretend: anything but --version fails with 127.
    if docker run --rm --network none --platform "$p" "$(image python)" python3 -c 'print(1)' >/dev/null 2>&1; then
        case $(docker run --rm --network none --platform "$p" "$(image python)" python3 --version) in
            *stub*) bad "python $p: the stub accepted -c" ;;
            *) ok "python $p: real interpreter runs -c" ;;
        esac
    else
        ok "python $p: stub refuses to run code (exit $?)"
    fi
done

say "Running the web apps"
for p in linux/amd64 linux/arm64; do
    for name in shop-api shop-web; do
        # The image's own HEALTHCHECK, polled every second instead of every 30s.
        c=$(docker run -d --rm --network none --platform "$p" --health-interval 1s "$(image "$name")")
        status=
        for _ in $(seq 30); do
            status=$(docker inspect -f '{{.State.Health.Status}}' "$c")
            [ "$status" = healthy ] && break
            sleep 0.5
        done
        expect "$name $p: docker reports the container healthy" healthy "$status"
        if [ "$name" = shop-api ]; then
            expect "$name $p: GET /cgi-bin/product?id=3" '"name":"Acme cap"' \
                "$(docker exec "$c" wget -q -O - 'http://127.0.0.1:8080/cgi-bin/product?id=3' | grep -o '"name":"Acme cap"')"
        else
            expect "$name $p: index.html stamped with the version" 1 \
                "$(docker exec "$c" wget -q -O - http://127.0.0.1:8080/ | grep -c "shop-web $VERSION, built")"
            expect "$name $p: openapi.json copied from shop-api" "\"version\": \"$VERSION\"" \
                "$(docker exec "$c" wget -q -O - http://127.0.0.1:8080/api/openapi.json | grep -o "\"version\": \"$VERSION\"")"
            expect "$name $p: checksums of the site" OK \
                "$(docker exec "$c" sh -c 'cd /srv/www && sha256sum -c SHA256SUMS >/dev/null && echo OK')"
        fi
        docker stop -t 1 "$c" >/dev/null
    done
done

say "Running the data jobs (etl-worker, then report-job on its output)"
for p in linux/amd64 linux/arm64; do
    vol=verify-enterprise-data-$$-${p#linux/}
    docker volume create "$vol" >/dev/null
    # A new named volume takes /data (owned by uid 10001) from the image.
    docker run --rm --network none --platform "$p" -v "$vol:/data" --entrypoint /bin/sh "$(image etl-worker)" \
        -c 'cp /app/sample/orders.csv /data/in/' >/dev/null
    out=$(docker run --rm --network none --platform "$p" -v "$vol:/data" "$(image etl-worker)" 2>&1) || true
    expect "etl-worker $p: job ends with status 0" 1 "$(grep -c '"event":"end",.*"status":0' <<<"$out")"
    if [ "$p" = linux/amd64 ]; then
        out=$(docker run --rm --network none --platform "$p" -v "$vol:/data" "$(image report-job)" 2>&1) || true
        expect "report-job $p: report from etl-worker's totals" "total revenue: 178.42 EUR" \
            "$(grep -o 'total revenue: .*' <<<"$out")"
    fi
    out=$(docker run --rm --network none --platform "$p" --entrypoint /usr/local/bin/healthcheck.sh "$(image data)" 2>&1) && rc=0 || rc=$?
    expect "data $p: unhealthy without a heartbeat" "1" "$rc"
    out=$(docker run --rm --network none --platform "$p" "$(image data)" /usr/local/bin/healthcheck.sh 2>&1) || true
    expect "data $p: healthy inside run-job" 1 "$(grep -c '^healthy$' <<<"$out")"
    docker volume rm "$vol" >/dev/null
done

echo
if [ "$failures" -gt 0 ]; then
    say "$failures check(s) FAILED (build logs in $logs)"
    exit 1
fi
rm -rf "$logs"
say "All checks passed; whole tree built in ${build_seconds}s"
