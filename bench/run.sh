#!/usr/bin/env bash
# Benchmark: generate seeded extracts of 10,000, 100,000 and 1,000,000 cases
# (15 to 25 events per case), audit each with the release build, and print
# wall time and peak memory per phase as Markdown (paste into BENCHMARKS.md).
#
#   bench/run.sh                 all three sizes
#   bench/run.sh 10000 100000    chosen sizes
#   RUNS=5 bench/run.sh 1000000  more runs per size (default 3)
#
# Each size is audited RUNS times, each audit followed by `yjaudit check` on
# the same folder (reading the CSVs only): the table gives the median of
# each column, and the last column the third target's ratio, (rules +
# findings + outputs) / check, taken run by run (the audit beside the read
# that followed it, so the machine's drift between runs cancels) and then
# its median; every run's ratio is listed under the table, and beside it
# the same ratio against the audit's own ingest phase (the read inside the
# run, without the `check` process's start and end).
#
# Data is cached in $BENCH_DATA (default /tmp/yjaudit-bench) by size and seed,
# so a rerun measures only the audit. Needs ~2.5 GB of disk per million cases
# for the data, and 13 GB more while a million-case audit's outputs exist.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
runs="${RUNS:-3}"
data="${BENCH_DATA:-/tmp/yjaudit-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/yjaudit"
mkdir -p "$data"

# Seconds since a `date +%s.%N` reading (bash, coreutils, grep, sed and awk are all
# the benchmark needs besides cargo).
seconds_since() { awk -v from="$1" -v to="$(date +%s.%N)" 'BEGIN {printf "%.2f\n", to - from}'; }

# The median of the numbers on standard input (the mean of the middle two
# for an even count).
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Date: $(date -u +%Y-%m-%d), yjaudit $("$bin" --version | cut -d' ' -f2), as-of 2026-11-23, seed 1, $runs run(s) per size, medians"
echo
echo "| cases | events | input MB | findings | ingest s | rules s | findings s | outputs s | total s | peak MiB | check (ingest only) s | (rules + findings + outputs) / check |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
notes=()
for n in "${sizes[@]}"; do
  dir="$data/$n"
  if [ ! -s "$dir/events.csv" ]; then
    "$bin" generate --cases "$n" --seed 1 --as-of 2026-11-23 --out "$dir" >/dev/null
  fi
  events=$(($(wc -l < "$dir/events.csv") - 1))
  mb=$(du -sm "$dir" | cut -f1)
  out="$data/out-$n"
  figures=$(mktemp)
  for _ in $(seq "$runs"); do
    rm -rf "$out"
    sync # the last run's files are written back before this one starts
    log=$(mktemp)
    start=$(date +%s.%N)
    if ! "$bin" run -v --input "$dir" --as-of 2026-11-23 --out "$out/r" 2> "$log"; then
      echo "the audit of $dir failed:" >&2
      tail -5 "$log" >&2
      exit 1
    fi
    total=$(seconds_since "$start")
    # A phase's wall time (0 for a phase the run did not report, so the columns stay in place).
    phase() { awk -v p="$1" '$3 == "phase" && $4 == p {s = $5} END {printf "%.2f\n", s}' "$log"; }
    findings=$(grep -o '[0-9][0-9]* findings (' "$log" | head -1 | cut -d' ' -f1)
    # The process's peak resident memory (VmHWM) as `run -v` reports it after its last phase.
    peak=$(awk '$3 == "phase" {peak = $(NF - 1)} END {print peak}' "$log")
    # The read starts as the audit did: the last files removed and that
    # removal written back (a million cases' 12.6 GB removed without it
    # left the system busy freeing them during the read, slowing it by up
    # to 3 s and flattering the ratio before session 16 found it).
    rm -rf "$out"
    sync
    start=$(date +%s.%N)
    "$bin" check --input "$dir" > /dev/null
    check=$(seconds_since "$start")
    echo "$findings $(phase ingest) $(phase rules) $(phase findings) $(phase outputs) $total $peak $check" >> "$figures"
    rm -f "$log"
  done
  column() { awk -v c="$1" '{print $c}' "$figures" | median; }
  ratios=$(awk '{printf "%.2f\n", ($3 + $4 + $5) / $8}' "$figures")
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2fx |\n" "$n" "$events" "$mb" "$(column 1)" \
    "$(column 2)" "$(column 3)" "$(column 4)" "$(column 5)" "$(column 6)" "$(column 7)" "$(column 8)" "$(echo "$ratios" | median)"
  # The same against the audit's own ingest phase (the read inside the
  # run, without a process's start and end): the stricter of the two.
  in_run=$(awk '{printf "%.2f\n", ($3 + $4 + $5) / $2}' "$figures")
  notes+=("$n cases, each run's ratio: $(echo "$ratios" | sed 's/$/x/' | paste -sd' ')" \
    "  against the audit's own ingest phase: $(echo "$in_run" | sed 's/$/x/' | paste -sd' ') (median $(echo "$in_run" | median)x)")
  rm -f "$figures"
done
echo
printf '%s\n' "${notes[@]}"
