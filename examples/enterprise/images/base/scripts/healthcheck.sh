#!/bin/sh
# Company-wide container health probe, used by HEALTHCHECK in every image built on
# the base. It only needs busybox (sh, wget), so it works on the offline seed and
# on alpine alike. Each image configures it through the environment:
#   HEALTHCHECK_URL      HTTP(S) endpoint that must answer 2xx (web services)
#   HEALTHCHECK_FILE     file that must exist and be fresh (batch jobs write it)
#   HEALTHCHECK_MAX_AGE  seconds HEALTHCHECK_FILE may be old (default 300)
#   HEALTHCHECK_TIMEOUT  seconds for the HTTP request (default 3)
# With neither set the container counts as healthy while it runs.
# Exit 0 healthy, 1 unhealthy (the values docker expects).
set -eu

if [ -n "${HEALTHCHECK_URL:-}" ]; then
    # `timeout`, not `wget -T`: the busybox 1.35 wget of the seed crashes on -T.
    if ! timeout "${HEALTHCHECK_TIMEOUT:-3}" wget -q -O /dev/null "$HEALTHCHECK_URL"; then
        echo "unhealthy: no 2xx answer from $HEALTHCHECK_URL"
        exit 1
    fi
fi

if [ -n "${HEALTHCHECK_FILE:-}" ]; then
    if [ ! -f "$HEALTHCHECK_FILE" ]; then
        echo "unhealthy: $HEALTHCHECK_FILE does not exist"
        exit 1
    fi
    age=$(( $(date +%s) - $(date -r "$HEALTHCHECK_FILE" +%s) ))
    if [ "$age" -gt "${HEALTHCHECK_MAX_AGE:-300}" ]; then
        echo "unhealthy: $HEALTHCHECK_FILE is ${age}s old (max ${HEALTHCHECK_MAX_AGE:-300}s)"
        exit 1
    fi
fi

echo "healthy"
