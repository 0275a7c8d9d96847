#!/usr/bin/env python3
"""Writes a large PDF and a large DOCX for scripts/bench-documents.sh.

Usage: scripts/make-documents.py DIR [PAGES] [PARAGRAPHS]
Writes DIR/pdf/notes/big.pdf (PAGES pages of 40 lines of Helvetica text,
default 500) and DIR/docx/notes/big.docx (PARAGRAPHS paragraphs, default
50,000), with the standard library only.
"""
import io
import os
import sys
import zipfile

out_dir = sys.argv[1]
pages = int(sys.argv[2]) if len(sys.argv) > 2 else 500
paragraphs = int(sys.argv[3]) if len(sys.argv) > 3 else 50_000

objects = []


def add(body):
    objects.append(body)
    return len(objects)


font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
pages_id = add(b"")
kids = []
for p in range(pages):
    lines = b"".join(
        b"(Page %d line %d the quick brown fox jumps over the lazy dog number %d) Tj 0 -18 Td "
        % (p + 1, n, p * 40 + n)
        for n in range(40)
    )
    ops = b"BT /F1 10 Tf 50 780 Td " + lines + b"ET"
    content = add(b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream")
    kids.append(add(b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>" % (pages_id, content)))
objects[pages_id - 1] = (
    b"<< /Type /Pages /Kids ["
    + b" ".join(b"%d 0 R" % k for k in kids)
    + b"] /Count %d /Resources << /Font << /F1 %d 0 R >> >> /MediaBox [0 0 612 792] >>" % (pages, font)
)
catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
pdf = io.BytesIO()
pdf.write(b"%PDF-1.5\n")
offsets = []
for i, body in enumerate(objects):
    offsets.append(pdf.tell())
    pdf.write(b"%d 0 obj\n" % (i + 1) + body + b"\nendobj\n")
xref = pdf.tell()
pdf.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
for offset in offsets:
    pdf.write(b"%010d 00000 n \n" % offset)
pdf.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref))
os.makedirs(os.path.join(out_dir, "pdf", "notes"), exist_ok=True)
with open(os.path.join(out_dir, "pdf", "notes", "big.pdf"), "wb") as f:
    f.write(pdf.getvalue())

w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
body = "".join(
    f"<w:p><w:r><w:t>Paragraph {i} holds a sentence about the quick brown fox and the lazy dog.</w:t></w:r></w:p>"
    for i in range(paragraphs)
)
os.makedirs(os.path.join(out_dir, "docx", "notes"), exist_ok=True)
with zipfile.ZipFile(os.path.join(out_dir, "docx", "notes", "big.docx"), "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("word/document.xml", f"<w:document {w}><w:body>{body}</w:body></w:document>")
