#!/bin/sh
# run.sh OUT: the shop-api tests, run by the `test` stage on every platform built.
# Unit tests of the compiled catalogue and the CGI handler, then the real server
# (busybox httpd via `serve`) answering over loopback.
set -eu
out=$1
fails=0
check() { # NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1: expected [$2], got [$3]"
        fails=$((fails + 1))
    fi
}
cgi() { QUERY_STRING=$1 "$out/www/cgi-bin/product"; }

check "one product per catalogue row" 4 "$(wc -l < "$out/www/api/products.jsonl" | tr -d ' ')"
check "products.json is an array" "[]" "$(head -c1 "$out/www/api/products.json")$(tail -c2 "$out/www/api/products.json" | head -c1)"
check "price in units" '"amount":"8.99"' "$(grep -o '"amount":"8.99"' "$out/www/api/products.json")"
check "cgi: found" "200 OK" "$(cgi id=2 | sed -n 's/^Status: \(.*\)\r$/\1/p')"
check "cgi: body" '{"id":2,"sku":"MUG-002"' "$(cgi 'x=1&id=2' | tail -n1 | cut -c1-23)"
check "cgi: unknown id" "404 Not Found" "$(cgi id=99 | sed -n 's/^Status: \(.*\)\r$/\1/p')"
check "cgi: bad id" "400 Bad Request" "$(cgi id=abc | sed -n 's/^Status: \(.*\)\r$/\1/p')"
check "openapi lists the product endpoint" 1 "$(grep -c '"/cgi-bin/product"' "$out/openapi.json")"
case $(node --version) in v*) echo "ok   node runtime answers: $(node --version)" ;; *) fails=$((fails + 1)) ;; esac

# Integration: the image's own server on a spare port, over loopback.
PORT=18080 WEB_ROOT=$out/www serve > /tmp/serve.log 2>&1 &
server=$!
tries=0
until wget -q -O /dev/null http://127.0.0.1:18080/api/version.json 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 50 ]; then echo "FAIL server did not start"; cat /tmp/serve.log; exit 1; fi
    sleep 0.1
done
check "http: version" "$(cat "$out/www/api/version.json")" "$(wget -q -O - http://127.0.0.1:18080/api/version.json)"
check "http: product via CGI" '"name":"Acme cap"' "$(wget -q -O - 'http://127.0.0.1:18080/cgi-bin/product?id=3' | grep -o '"name":"Acme cap"')"
if wget -q -O /dev/null 'http://127.0.0.1:18080/cgi-bin/product?id=99' 2>/dev/null; then
    check "http: 404 for unknown product" "error" "2xx"
else
    echo "ok   http: 404 for unknown product"
fi
kill "$server"

if [ "$fails" -gt 0 ]; then
    echo "$fails test(s) failed"
    exit 1
fi
echo "all shop-api tests passed"
