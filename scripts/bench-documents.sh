#!/usr/bin/env bash
# Times a full rebuild of a workspace holding one large PDF and of one
# holding one large DOCX (written by scripts/make-documents.py), and prints
# pages or paragraphs per second and the peak memory of any process of the
# run (the PDF worker included).
#
# Usage: scripts/bench-documents.sh [PAGES] [PARAGRAPHS]   (500, 50000)
set -euo pipefail
pages=${1:-500}
paragraphs=${2:-50000}
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && cargo build --release --locked -q)
bin="$repo/target/release/auditgraph"
ws=$(mktemp -d /tmp/auditgraph-docbench.XXXXXX)
trap 'rm -rf "$ws"' EXIT
python3 "$repo/scripts/make-documents.py" "$ws" "$pages" "$paragraphs"
for kind in pdf docx; do
  "$bin" --root "$ws/$kind" -q run >/dev/null
  python3 - "$bin" "$ws/$kind" "$kind" "$pages" "$paragraphs" <<'PY'
import resource, subprocess, sys, time
binary, root, kind, pages, paragraphs = sys.argv[1:]
units = int(pages) if kind == "pdf" else int(paragraphs)
runs = []
for _ in range(3):
    t = time.perf_counter()
    subprocess.run([binary, "--root", root, "-q", "rebuild"], check=True, stdout=subprocess.DEVNULL)
    runs.append(time.perf_counter() - t)
best = min(runs)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
name = "pages" if kind == "pdf" else "paragraphs"
print(f"{kind}: {units} {name}, rebuild best of 3 {best:.2f} s = {units / best:,.0f} {name}/s end to end, peak RSS {peak} MiB")
PY
done
