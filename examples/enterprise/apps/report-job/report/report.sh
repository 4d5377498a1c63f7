#!/bin/sh
# report.sh: the report-job job (run by run-job, the data base's entry point).
# Renders $DATA_DIR/out/daily_totals.csv (written by etl-worker) to
# $DATA_DIR/out/report.txt and prints it.
set -eu
out=${DATA_DIR:-/data}/out
sh /app/report/render.sh "$out/daily_totals.csv" > "$out/report.txt"
cat "$out/report.txt"
