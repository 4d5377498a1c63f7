#!/bin/sh
# vat AMOUNT [RATE%]: the gross amount of a net AMOUNT (in cents) at RATE (default
# @DEFAULT_RATE@, set at build time), rounded half up to the cent.
set -eu
amount=${1:?usage: vat AMOUNT_CENTS [RATE_PERCENT]}
rate=${2:-@DEFAULT_RATE@}
case $amount$rate in *[!0-9]*) echo "vat: whole numbers only" >&2; exit 64 ;; esac
echo $(( (amount * (100 + rate) + 50) / 100 ))
