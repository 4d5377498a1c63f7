#!/bin/sh
# render.sh DAILY_TOTALS.csv: the sales report as text, with a bar per day.
# Reads the daily_totals.csv layout etl-worker writes (date,orders,items,revenue_cents).
set -eu
awk -F, -v currency="${REPORT_CURRENCY:-EUR}" '
    function money(cents) { return sprintf("%d.%02d", int(cents / 100), cents % 100) }
    NR == 1 {
        if ($0 != "date,orders,items,revenue_cents") {
            print "unexpected header: " $0 > "/dev/stderr"; exit 2
        }
        next
    }
    {
        n++; day[n] = $1; rev[n] = $4
        orders += $2; items += $3; total += $4
        if ($4 > max) { max = $4; best = $1 }
    }
    END {
        if (NR == 0) exit 2
        print "Acme daily sales report"
        print "======================="
        for (i = 1; i <= n; i++) {
            bar = ""
            for (j = 0; j < int(rev[i] * 20 / max + 0.5); j++) bar = bar "#"
            printf "%s %9s %s  %s\n", day[i], money(rev[i]), currency, bar
        }
        print "-----------------------"
        printf "days: %d  orders: %d  items: %d\n", n, orders, items
        printf "total revenue: %s %s\n", money(total), currency
        printf "best day: %s (%s %s)\n", best, money(max), currency
    }
' "$1"
