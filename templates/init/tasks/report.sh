#!/bin/sh
set -eu
{ echo "Report"; echo; cat out/stats.json; } > out/report.txt
