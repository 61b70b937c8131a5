#!/bin/sh
# Writes a plain-text report from the region summary and the monthly table.
set -eu
{
  echo "Sales report"
  echo "============"
  echo
  echo "Per region (JSON):"
  cat out/summary.json
  echo
  echo "Per month (CSV):"
  cat out/monthly.csv
} > out/report.txt
