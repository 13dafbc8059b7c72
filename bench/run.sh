#!/usr/bin/env bash
# Benchmark: generate seeded extracts of 10,000, 100,000 and 1,000,000 cases
# (15 to 25 events per case), audit each with the release build, and print
# wall time and peak memory per phase as Markdown (paste into BENCHMARKS.md).
#
#   bench/run.sh                 all three sizes
#   bench/run.sh 10000 100000    chosen sizes
#
# Data is cached in $BENCH_DATA (default /tmp/yjaudit-bench) by size and seed,
# so a rerun measures only the audit. Needs ~2.5 GB of disk per million cases.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
data="${BENCH_DATA:-/tmp/yjaudit-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/yjaudit"
mkdir -p "$data"

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Date: $(date -u +%Y-%m-%d), yjaudit $("$bin" --version | cut -d' ' -f2), as-of 2026-11-23, seed 1"
echo
echo "| cases | events | input MB | findings | ingest s | rules s | findings s | outputs s | total s | peak MiB | check (ingest only) s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  dir="$data/$n"
  if [ ! -s "$dir/events.csv" ]; then
    "$bin" generate --cases "$n" --seed 1 --as-of 2026-11-23 --out "$dir" >/dev/null
  fi
  events=$(($(wc -l < "$dir/events.csv") - 1))
  mb=$(du -sm "$dir" | cut -f1)
  out="$data/out-$n"
  rm -rf "$out"
  sync # the previous size's files are written back before this one starts
  log=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$log.time" "$bin" run -v --input "$dir" --as-of 2026-11-23 --out "$out/r" 2> "$log"
  phase() { awk -v p="$1" '$3 == "phase" && $4 == p {print $5}' "$log"; }
  findings=$(grep -o '[0-9][0-9]* findings (' "$log" | head -1 | cut -d' ' -f1)
  read -r total peak_kb < "$log.time"
  check_start=$(date +%s.%N)
  "$bin" check --input "$dir" > /dev/null
  check=$(echo "$(date +%s.%N) - $check_start" | bc)
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n" "$n" "$events" "$mb" "$findings" \
    "$(phase ingest)" "$(phase rules)" "$(phase findings)" "$(phase outputs)" "$total" "$((peak_kb / 1024))" "$check"
  rm -rf "$out" "$log" "$log.time"
done
