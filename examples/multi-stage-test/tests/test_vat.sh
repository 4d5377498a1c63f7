#!/bin/sh
# Tests of the built `vat`, run by the Dockerfile's test stage.
set -u
fails=0
expect() { # EXPECTED COMMAND...
    want=$1
    shift
    got=$("$@" 2>&1) || got="exit $?"
    if [ "$got" = "$want" ]; then echo "ok   $*"; else echo "FAIL $*: expected $want, got $got"; fails=$((fails + 1)); fi
}
expect 1190 vat 1000            # default rate 19
expect 1070 vat 1000 7
expect 0    vat 0
expect 2    vat 1 50            # 1.5 rounds half up
expect "exit 64" vat 10.5
[ "$fails" -eq 0 ] || { echo "$fails test(s) failed"; exit 1; }
echo "all tests passed on $(uname -m)"
