#!/usr/bin/env python3
"""Benchmarks the git-provenance stage on a generated history.

Usage: python3 scripts/bench-git-provenance.py BINARY [COMMITS] [DIR]

Makes a repository of COMMITS commits (default 20000) with `git
fast-import` in DIR (default: a new temporary directory): 2,000 files in
40 directories, each commit changing one to three of them by a few lines,
a rename every 250 commits, a side branch merged every 1,000 and a tag
every 500. Then it times, with git provenance enabled (`include_paths`
limited to config/, so the time is the stage's):

- a cold `auditgraph run` (commits per second),
- `auditgraph run` after one new commit (the incremental case),
- `auditgraph git-introduced` on a renamed file (median of 10).

Every `git` runs without the system or user configuration.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

FILES = 2000
DIRS = 40


def git_env(home):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.path.join(home, "gitconfig"),
        "LC_ALL": "C",
        "TZ": "UTC",
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    return env


def stream(commits):
    """A fast-import stream: yields bytes."""
    rng = random.Random(42)
    contents = {}
    names = [f"d{i % DIRS:02}/f{i:05}.md" for i in range(FILES)]
    out = []
    when = 1_600_000_000
    mark = 0
    side_base = None
    renamed = []

    def data(text):
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    for n in range(commits):
        mark += 1
        when += 600
        branch = "refs/heads/main"
        on_side = n % 1000 in range(900, 905) and n > 1000
        if on_side:
            branch = "refs/heads/side"
        author = f"Dev {n % 37} <dev{n % 37}@example.com> {when} +0{n % 10}00"
        head = [b"commit %s\nmark :%d\n" % (branch.encode(), mark)]
        head.append(b"author %s\ncommitter %s\n" % (author.encode(), author.encode()))
        head.append(data(f"change {n}"))
        if on_side and side_base is None:
            head.append(b"from :%d\n" % (mark - 1))
            side_base = mark
        if not on_side and side_base is not None and n % 1000 == 905:
            head.append(b"merge :%d\n" % (mark - 1))
            side_base = None
        ops = []
        if n % 250 == 249 and n > 0:
            old = names[rng.randrange(FILES)]
            if old in contents:
                new = old.replace(".md", f"-r{n}.md")
                ops.append(b'R "%s" "%s"\n' % (old.encode(), new.encode()))
                names[names.index(old)] = new
                contents[new] = contents.pop(old)
                renamed.append(new)
        for _ in range(rng.randint(1, 3)):
            path = names[rng.randrange(FILES) if n >= FILES else n]
            body = contents.get(path, "# title\n") + f"line {n}\n"
            contents[path] = body
            raw = body.encode()
            ops.append(b"M 100644 inline %s\n" % path.encode())
            ops.append(b"data %d\n%s\n" % (len(raw), raw))
        out.append(b"".join(head) + b"".join(ops))
        if n % 500 == 499:
            out.append(b"tag v%d\nfrom :%d\ntagger %s\n%s" % (n, mark, author.encode(), data(f"tag {n}")))
    return b"".join(out), renamed


def timed(cmd, env=None):
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{cmd} failed:\n{done.stderr.decode()}")
    return elapsed, done.stdout


def main():
    binary = os.path.abspath(sys.argv[1])
    commits = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    root = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="ag-git-bench-")
    os.makedirs(root, exist_ok=True)
    home = tempfile.mkdtemp(prefix="ag-git-home-")
    env = git_env(home)
    git = lambda *args: subprocess.run(["git", "-C", root, *args], env=env, check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    data, renamed = stream(commits)
    subprocess.run(["git", "-C", root, "fast-import", "--quiet"], input=data, env=env, check=True)
    git("reset", "-q", "--hard", "main")
    os.makedirs(os.path.join(root, "config"), exist_ok=True)
    with open(os.path.join(root, "config", "pkg.yaml"), "w") as f:
        f.write('profiles:\n  default:\n    include_paths: ["config"]\n    git_provenance:\n      enabled: true\n')
    with open(os.path.join(root, ".git", "info", "exclude"), "a") as f:
        f.write(".pkg/\nconfig/\n")
    count = int(git("rev-list", "--count", "HEAD").stdout)
    ag = lambda *args: [binary, "--root", root, *args]

    cold, _ = timed(ag("run"))
    print(f"commits reachable from HEAD: {count}")
    print(f"cold run: {cold:.2f} s, {count / cold:,.0f} commits/s")

    with open(os.path.join(root, "new-note.md"), "w") as f:
        f.write("# one more\n")
    git("add", "new-note.md")
    git("commit", "-q", "-m", "one more")
    warm, out = timed(ag("--json", "run"))
    detail = json.loads(out)["detail"]
    print(
        f"run after one new commit: {warm:.2f} s "
        f"({detail['git_commits_read']} commit read, {detail['git_commits_reused']} reused)"
    )

    target = renamed[-1] if renamed else "d00/f00000.md"
    times = [timed(ag("git-introduced", target))[0] * 1000 for _ in range(10)]
    print(f"git-introduced {target}: median {statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f})")
    print(f"repository: {root}")


if __name__ == "__main__":
    main()
