#!/usr/bin/env python3
"""Builds the large benchmark corpus from the shared corpora.

Usage: scripts/make-bench-corpus.py OUT_DIR [COPIES] [SHARED_CORPORA]

OUT_DIR receives COPIES (default 16) copies of tldr-en and one of
rust-book. Copy k rotates every ASCII letter of every file's text and
path (not its extension) by k + 1 places (a Caesar shift, `a` -> `b` for copy 0), so no two
copies share a path, a file, a chunk or a word: plain copies would be
shared by a content-addressed store and flatter every figure. Markdown
syntax, digits and non-ASCII text are left as they are, so each copy has
the same structure (headings, code spans, links) as the original.

The result is the same on every machine (no randomness, sorted walk).
With the defaults it holds about 119k files and 71 MB of text.
"""

import os
import sys


def rotate(text: str, k: int) -> str:
    out = []
    for ch in text:
        o = ord(ch)
        if 97 <= o <= 122:
            out.append(chr(97 + (o - 97 + k) % 26))
        elif 65 <= o <= 90:
            out.append(chr(65 + (o - 65 + k) % 26))
        else:
            out.append(ch)
    return "".join(out)


def copy_tree(src: str, dst: str, k: int | None) -> int:
    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, src)
        rel = "" if rel == "." else rel
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            target_rel = os.path.join(rel, name)
            if k is not None:
                # The extension stays, so the parser that reads it does too.
                dot = target_rel.rfind(".")
                if dot > target_rel.rfind("/"):
                    target_rel = rotate(target_rel[:dot], k) + target_rel[dot:]
                else:
                    target_rel = rotate(target_rel, k)
            target = os.path.join(dst, target_rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(path, "rb") as f:
                data = f.read()
            if k is not None:
                try:
                    data = rotate(data.decode("utf-8"), k).encode("utf-8")
                except UnicodeDecodeError:
                    pass
            with open(target, "wb") as f:
                f.write(data)
            count += 1
    return count


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    copies = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[3] if len(sys.argv) > 3 else os.path.join(here, "..", "..", "shared", "corpora")
    tldr = os.path.join(shared, "tldr-en")
    book = os.path.join(shared, "rust-book")
    for corpus in (tldr, book):
        if not os.path.isdir(corpus):
            sys.exit(f"{corpus} is not a directory; pass the shared corpora as the third argument")
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"{out} exists and is not empty; give a new directory")
    total = 0
    for k in range(copies):
        total += copy_tree(tldr, os.path.join(out, f"tldr-{k:02}"), k + 1)
    total += copy_tree(book, os.path.join(out, "rust-book"), None)
    size = 0
    for dirpath, _, filenames in os.walk(out):
        size += sum(os.path.getsize(os.path.join(dirpath, n)) for n in filenames)
    print(f"{out}: {total} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
