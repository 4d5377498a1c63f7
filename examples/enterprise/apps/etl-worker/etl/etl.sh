#!/bin/sh
# etl.sh: the etl-worker job (run by run-job, the data base's entry point).
# Aggregates every $DATA_DIR/in/*.csv into $DATA_DIR/out/daily_totals.csv, the file
# report-job reads.
set -eu
in=${DATA_DIR:-/data}/in
set -- "$in"/*.csv
if [ ! -f "$1" ]; then
    echo "nothing to do: no CSV files in $in"
    exit 0
fi
exec sh /app/etl/transform.sh "${DATA_DIR:-/data}/out" "$@"
