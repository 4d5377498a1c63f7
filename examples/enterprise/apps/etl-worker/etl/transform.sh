#!/bin/sh
# transform.sh OUT_DIR ORDERS.csv...: aggregate order lines into daily totals.
#   in:  order_id,date,sku,qty,unit_price_cents   (header line first, per file)
#   out: OUT_DIR/daily_totals.csv  date,orders,items,revenue_cents  (sorted by date)
# A malformed line stops the run: better no totals than wrong ones.
set -eu
out=$1
shift
mkdir -p "$out"
awk -F, '
    FNR == 1 { next }
    NF != 5 || $2 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/ || $4 !~ /^[0-9]+$/ || $5 !~ /^[0-9]+$/ {
        printf "%s:%d: malformed order line: %s\n", FILENAME, FNR, $0 > "/dev/stderr"
        bad = 1
        exit 1
    }
    !seen[$1]++ { orders[$2]++ }
    { items[$2] += $4; revenue[$2] += $4 * $5 }
    END {
        if (bad) exit 1
        for (d in items) printf "%s,%d,%d,%d\n", d, orders[d], items[d], revenue[d]
    }
' "$@" | sort > "$out/daily_totals.body"
{ echo "date,orders,items,revenue_cents"; cat "$out/daily_totals.body"; } > "$out/daily_totals.csv"
rm "$out/daily_totals.body"
echo "daily_totals.csv: $(($(wc -l < "$out/daily_totals.csv") - 1)) days from $# file(s)"
