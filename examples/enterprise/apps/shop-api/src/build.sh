#!/bin/sh
# build.sh OUT VERSION: compile the shop API into OUT/ (the `build` stage runs it).
#   OUT/www/api/products.json    the catalogue as a JSON array (catalogue.csv checked row by row)
#   OUT/www/api/products.jsonl   one product per line, read by the product CGI
#   OUT/www/cgi-bin/product      the per-product endpoint
#   OUT/www/api/version.json     service name and version
#   OUT/openapi.json             the API description (shop-web embeds it)
set -eu
out=$1
version=$2
here=$(dirname "$0")
mkdir -p "$out/www/api" "$out/www/cgi-bin"

awk -F, '
    NR == 1 { next }
    NF != 5 || $1 !~ /^[0-9]+$/ || $4 !~ /^[0-9]+$/ || $5 !~ /^[A-Z][A-Z][A-Z]$/ {
        printf "catalogue.csv line %d is not id,sku,name,price_cents,currency: %s\n", NR, $0 > "/dev/stderr"
        bad = 1
        next
    }
    {
        printf "{\"id\":%d,\"sku\":\"%s\",\"name\":\"%s\",\"price\":{\"amount\":\"%d.%02d\",\"currency\":\"%s\"}}\n",
            $1, $2, $3, int($4 / 100), $4 % 100, $5
    }
    END { exit bad }
' "$here/catalogue.csv" > "$out/www/api/products.jsonl"

{
    printf '['
    awk 'NR > 1 { printf "," } { printf "%s", $0 }' "$out/www/api/products.jsonl"
    printf ']\n'
} > "$out/www/api/products.json"

cp "$here/product.cgi" "$out/www/cgi-bin/product"
chmod 0755 "$out/www/cgi-bin/product"
printf '{"service":"shop-api","version":"%s"}\n' "$version" > "$out/www/api/version.json"

cat > "$out/openapi.json" <<JSON
{
  "openapi": "3.0.3",
  "info": {"title": "Acme shop API", "version": "$version"},
  "paths": {
    "/api/products.json": {"get": {"summary": "All products"}},
    "/cgi-bin/product": {"get": {"summary": "One product",
      "parameters": [{"name": "id", "in": "query", "required": true, "schema": {"type": "integer"}}]}},
    "/api/version.json": {"get": {"summary": "Service version"}}
  }
}
JSON
echo "shop-api $version: $(wc -l < "$out/www/api/products.jsonl") products compiled"
