#!/usr/bin/env bash
# The measurement behind yjaudit's CSV reader (BENCHMARKS.md, "Why not
# polars"): the same extract read by polars and by the csv crate, three
# times each, alternating, with wall time and peak memory.
#
#   bench/polars-read.sh [DIR]     default: the 1,000,000-case benchmark extract
#
# Builds polars once (about 5 minutes on 2 cores) in its own target folder.
set -euo pipefail
cd "$(dirname "$0")/polars-read"
dir="${1:-${BENCH_DATA:-/tmp/yjaudit-bench}/1000000}"
[ -s "$dir/events.csv" ] || { echo "no extract in $dir: run bench/run.sh 1000000 first" >&2; exit 1; }
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/polars-read"
cat "$dir"/*.csv > /dev/null # both start from a warm page cache
for round in 1 2 3; do
  for reader in csv polars; do
    /usr/bin/time -f "$reader round $round: %e s wall, %U s user, %S s system, peak %M KB" "$bin" "$reader" "$dir" | tail -1
  done
done
