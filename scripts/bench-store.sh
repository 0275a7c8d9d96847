#!/usr/bin/env bash
# The incremental store at scale: times and peak memory of the daily loop
# on the ~119k-file benchmark corpus (16 letter-rotated copies of tldr-en
# plus rust-book, built by scripts/make-bench-corpus.py), next to the
# physical floor (reading and hashing every file once).
#
# Usage: scripts/bench-store.sh [CORPUS_DIR] [RUNS]
#   CORPUS_DIR: a prepared corpus (default: built once under
#               ${AUDITGRAPH_BENCH_DIR:-/tmp/auditgraph-bench}/corpus from
#               ${AUDITGRAPH_CORPORA:-../shared/corpora})
#   RUNS:       repetitions per figure (default 5; cold runs: 3)
#
# Prints, per figure, the median wall time and the largest peak RSS:
# cold run (with the floor measured just before each), no-change run,
# one-file edit then run, query, list --limit 10, node, neighbors --depth 2.
# The corpus is a workspace of its own: its .pkg is removed and rebuilt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${AUDITGRAPH_BENCH_DIR:-/tmp/auditgraph-bench}
corpora=${AUDITGRAPH_CORPORA:-$repo/../shared/corpora}
corpus=${1:-}
runs=${2:-5}
floor_script="$repo/../shared/bench/floor.sh"

if [ -z "$corpus" ]; then
  corpus="$bench_dir/corpus"
  if [ ! -f "$corpus/.complete" ]; then
    rm -rf "$corpus"
    python3 "$repo/scripts/make-bench-corpus.py" "$corpus" 16 "$corpora"
    touch "$corpus/.complete"
  fi
fi
corpus=$(cd "$corpus" && pwd)
(cd "$repo" && cargo build --release --locked -q)
bin="$repo/target/release/auditgraph"
ag() { "$bin" --root "$corpus" -q "$@"; }

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }
floor() {
  if [ -f "$floor_script" ]; then
    bash "$floor_script" "$corpus" | sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p'
  else
    local t0 t1
    t0=$(date +%s.%N)
    find "$corpus" -path "$corpus/.pkg" -prune -o -type f -name '*.md' -print0 | xargs -0 -r sha256sum >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
  fi
}
# Runs "$@" once; prints "<wall seconds> <peak KiB>".
measure() {
  local out
  out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$out" >&2; exit 1; }
  tail -n 1 "$out"
  rm -f "$out"
}
# name, n, prepare (shell), command...: median wall, max peak.
figure() {
  local name=$1 n=$2 prepare=$3
  shift 3
  local walls=() peaks=()
  for _ in $(seq "$n"); do
    bash -c "$prepare"
    read -r wall peak < <(measure "$@")
    walls+=("$wall")
    peaks+=("$peak")
  done
  printf '%-26s median %6.3f s (min %s, max %s)  peak %5d MiB\n' "$name" \
    "$(median "${walls[@]}")" "$(printf '%s\n' "${walls[@]}" | sort -n | head -1)" \
    "$(max "${walls[@]}")" "$(( $(max "${peaks[@]}") / 1024 ))"
}

files=$(find "$corpus" -path "$corpus/.pkg" -prune -o -type f -print | wc -l)
bytes=$(find "$corpus" -path "$corpus/.pkg" -prune -o -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "corpus: $corpus ($files files, $bytes bytes)"
echo "binary: $("$bin" version) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)), $(nproc) cores"

# Cold runs, each after a floor measured just before it (warm page cache
# for both: the floor reads every file first).
floor >/dev/null
cold_runs=$(( runs < 3 ? runs : 3 ))
floors=() walls=() peaks=()
# Earlier stores are moved aside, not deleted, until the end: on ext4,
# creating files right after thousands were deleted makes every inode
# allocation skip the recently freed ones (kernel `recently_deleted`, ~0.6 ms
# of CPU per file created, ~1.7 s of a cold run here), a cost of the
# benchmark's own cleanup that no first run on a user's machine pays.
trash=$(mktemp -d "$corpus/../.bench-trash.XXXXXX")
trap 'rm -rf "$trash"' EXIT
for i in $(seq "$cold_runs"); do
  if [ -e "$corpus/.pkg" ]; then mv "$corpus/.pkg" "$trash/pkg-$i"; fi
  sync
  floors+=("$(floor)")
  read -r wall peak < <(measure "$bin" --root "$corpus" -q run)
  walls+=("$wall")
  peaks+=("$peak")
done
f=$(median "${floors[@]}")
w=$(median "${walls[@]}")
printf '%-26s median %6.3f s = %.1fx the floor (%.3f s)  peak %5d MiB\n' "run (cold)" "$w" \
  "$(awk -v a="$w" -v b="$f" 'BEGIN { print a / b }')" "$f" "$(( $(max "${peaks[@]}") / 1024 ))"

figure "run (no change)" "$runs" "true" "$bin" --root "$corpus" -q run
edited=$(find "$corpus" -path "$corpus/.pkg" -prune -o -type f -name '*.md' -print | sort | sed -n '5000p')
figure "edit one file, run" "$runs" "echo '- one more line' >> '$edited'" "$bin" --root "$corpus" -q run

note=$("$bin" --root "$corpus" --json list --type ag:note --limit 1 --offset 777 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])')
figure "query (rare words)" "$runs" "true" "$bin" --root "$corpus" query --q "tar archive"
figure "query (common words)" "$runs" "true" "$bin" --root "$corpus" query --q "list files in a directory"
figure "list --limit 10" "$runs" "true" "$bin" --root "$corpus" list --limit 10
figure "node" "$runs" "true" "$bin" --root "$corpus" node "$note"
figure "neighbors --depth 2" "$runs" "true" "$bin" --root "$corpus" neighbors "$note" --depth 2

store=$(ag --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["budget"]["current_bytes"])')
awk -v s="$bytes" -v t="$store" 'BEGIN { printf "store: %d bytes = %.2fx the sources\n", t, t / s }'
