#!/bin/sh
# GET /cgi-bin/product?id=N -> one product of the catalogue as JSON (busybox httpd CGI).
# products.jsonl (one product per line) is compiled from catalogue.csv by build.sh
# into ../api/ beside this script.
data=$(dirname "$0")/../api/products.jsonl
id=
for pair in $(echo "${QUERY_STRING:-}" | tr '&' ' '); do
    case $pair in id=*) id=${pair#id=} ;; esac
done
reply() { # STATUS BODY
    printf 'Status: %s\r\nContent-Type: application/json\r\n\r\n%s\n' "$1" "$2"
}
case $id in
    '' | *[!0-9]*) reply "400 Bad Request" '{"error":"give id=N, a number"}'; exit 0 ;;
esac
line=$(awk -v id="$id" 'index($0, "{\"id\":" id ",") == 1' "$data")
if [ -n "$line" ]; then
    reply "200 OK" "$line"
else
    reply "404 Not Found" "{\"error\":\"no product $id\"}"
fi
