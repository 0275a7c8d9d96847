#!/usr/bin/env bash
# Times whole auditgraph runs on a corpus next to the physical floor (the
# time to read and hash every file once).
#
# Usage: scripts/bench-cli.sh CORPUS_DIR [RUNS]
#   e.g. scripts/bench-cli.sh ../shared/corpora/tldr-en
# QUERY=<text> sets the query timed (default: tar).
#
# The corpus is copied to a temporary workspace (never into the project);
# the release binary is built first. Needs hyperfine (apt-get install
# hyperfine; installed automatically when apt is available).
set -euo pipefail
corpus=${1:?usage: scripts/bench-cli.sh CORPUS_DIR [RUNS]}
runs=${2:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "$corpus" && pwd)
floor_script="$repo/../shared/bench/floor.sh"

if ! command -v hyperfine >/dev/null 2>&1; then
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
fi
(cd "$repo" && cargo build --release --locked -q)
bin="$repo/target/release/auditgraph"

ws=$(mktemp -d /tmp/auditgraph-bench.XXXXXX)
trap 'rm -rf "$ws"' EXIT
cp -r "$corpus/." "$ws/"
ag() { "$bin" --root "$ws" -q "$@"; }

echo "corpus: $corpus"
echo "binary: $("$bin" version) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# The floor is as noisy as the tool on a shared machine: measure it as
# many times as each command (after one warm-up) and compare medians.
floor_s=""
if [ -f "$floor_script" ]; then
  bash "$floor_script" "$ws" >/dev/null
  floors=()
  for _ in $(seq "$runs"); do
    floors+=("$(bash "$floor_script" "$ws" | sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p')")
  done
  floor_s=$(median "${floors[@]}")
  echo "floor:  $(bash "$floor_script" "$ws" | sed 's/ wall_s=.*//') median of $runs: ${floor_s} s (min $(printf '%s\n' "${floors[@]}" | sort -n | head -1) s)"
fi

export_json=$(mktemp -d /tmp/auditgraph-bench-json.XXXXXX)
trap 'rm -rf "$ws" "$export_json"' EXIT
bench() { # name, prepare, command
  # -N: the commands are run without a shell (no spawn time to subtract,
  # which on a noisy machine added as much spread as it removed).
  hyperfine -N --style basic --runs "$runs" --warmup 1 --prepare "$2" "$3" \
    --export-json "$export_json/$1.json" >/dev/null 2>&1
  python3 - "$export_json/$1.json" "$1" "$floor_s" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
line = f"{sys.argv[2]:<28} mean {r['mean']*1000:8.1f} ms  median {r['median']*1000:8.1f} ms  min {r['min']*1000:8.1f} ms  max {r['max']*1000:8.1f} ms"
if sys.argv[3] and sys.argv[2].endswith("(cold)"):
    line += f"  = {r['median'] / float(sys.argv[3]):.1f}x floor (medians)"
print(line)
PY
}

# A cold command against the floor measured right before it, pair by
# pair: on a shared machine the speed drifts over minutes, and a floor
# taken minutes apart from the command skews the ratio either way. Both
# are timed the same way (`date` around the work, as floor.sh does).
# Printed: the median of the pairs' ratios with their range, and the ratio
# of the medians of the same interleaved samples (less swayed by one slow
# floor or one slow run).
paired() { # name, subcommand
  [ -f "$floor_script" ] || return 0
  local ratios=() floors=() tools=()
  for _ in $(seq "$runs"); do
    local floor
    floor=$(bash "$floor_script" "$ws" | sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p')
    rm -rf "$ws/.pkg" && sync
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" --root "$ws" -q "$2" >/dev/null
    t1=$(date +%s.%N)
    floors+=("$floor")
    tools+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    ratios+=("$(awk -v a="$t0" -v b="$t1" -v f="$floor" 'BEGIN { printf "%.3f", (b - a) / f }')")
  done
  local median_floor median_tool
  median_floor=$(median "${floors[@]}")
  median_tool=$(median "${tools[@]}")
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v name="$1" -v n="$runs" -v f="$median_floor" -v t="$median_tool" '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%-28s %.2fx the floor measured just before it (median of %d pairs; range %.2f-%.2f); medians %.1f ms / %.1f ms = %.2fx\n", name, m, n, a[1], a[NR], t * 1000, f * 1000, t / f }'
}

bench "ingest (cold)" "rm -rf '$ws/.pkg' && sync" "'$bin' --root '$ws' -q ingest"
paired "ingest (cold), paired" ingest
bench "ingest (no change)" "true" "'$bin' --root '$ws' -q ingest"
if "$bin" --help | grep -qE '^  run '; then
  bench "run (cold)" "rm -rf '$ws/.pkg' && sync" "'$bin' --root '$ws' -q run"
  paired "run (cold), paired" run
  bench "run (no change)" "true" "'$bin' --root '$ws' -q run"
fi

if "$bin" --help | grep -qE '^  query '; then
  "$bin" --root "$ws" -q run
  query=${QUERY:-tar}
  bench "query --q $query" "true" "'$bin' --root '$ws' query --q '$query'"
  note=$("$bin" --root "$ws" --json list --type ag:note --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])')
  bench "neighbors --depth 2" "true" "'$bin' --root '$ws' neighbors $note --depth 2"
fi

if "$bin" --help | grep -qE '^  export '; then
  # Exports count against the disk budget; a full export of a large corpus
  # needs a larger multiplier than the default.
  big="$export_json/big-budget.yaml"
  printf 'storage:\n  footprint_budget:\n    multiplier: 1000\n' > "$big"
  "$bin" --root "$ws" -q run
  for format in json dot graphml cypher; do
    if [ "$format" = cypher ]; then cmd="export-neo4j"; else cmd="export --format $format"; fi
    out="$export_json/export.$format"
    bench "export $format" "rm -f '$out'" "'$bin' --root '$ws' --config '$big' -q $cmd -o '$out'"
    peak=$( { /usr/bin/time -f '%M' "$bin" --root "$ws" --config "$big" -q $cmd -o "$out"; } 2>&1 | tail -n 1 )
    printf '%-28s %d bytes, peak RSS %d MiB\n' "  export $format size" "$(stat -c %s "$out")" "$((peak / 1024))"
  done
fi

rm -rf "$ws/.pkg"
peak=$( { /usr/bin/time -f '%M' "$bin" --root "$ws" -q ingest; } 2>&1 | tail -n 1 )
echo "peak RSS, cold ingest: $((peak / 1024)) MiB"
if "$bin" --help | grep -qE '^  run '; then
  rm -rf "$ws/.pkg"
  peak=$( { /usr/bin/time -f '%M' "$bin" --root "$ws" -q run; } 2>&1 | tail -n 1 )
  echo "peak RSS, cold run:    $((peak / 1024)) MiB"
fi
src=$(find "$ws" -path "$ws/.pkg" -prune -o -type f \( -name '*.md' -o -name '*.markdown' -o -name '*.txt' -o -name '*.log' \) -printf '%s\n' | awk '{s+=$1} END {print s+0}')
store=$(find "$ws/.pkg" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
files=$(find "$ws/.pkg" -type f | wc -l)
awk -v s="$src" -v t="$store" -v f="$files" 'BEGIN { printf "store after one cold run: %d bytes in %d files = %.2fx the %d source bytes\n", t, f, t / s, s }'
