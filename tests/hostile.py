"""Hostile and large files made for tests and benchmarks: a Word zip bomb, a Word file of given paragraphs."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

WORD_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
             b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
WORD_TAIL = b"</w:body></w:document>"
BOMB_PARAGRAPH = b"<w:p><w:r><w:t>Lorem ipsum dolor s</w:t></w:r></w:p>"  # 19 characters, said again and again


def bomb_docx(xml_bytes: int = 150 * 10**6) -> bytes:
    """A .docx of about 440 KB whose word/document.xml unpacks to `xml_bytes`: one short paragraph repeated
    (150 MB gives 3 M paragraphs, 63 M characters of text, 19 once repeats are dropped)."""
    count = (xml_bytes - len(WORD_HEAD) - len(WORD_TAIL)) // len(BOMB_PARAGRAPH)
    block = BOMB_PARAGRAPH * 10_000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as xml:
            xml.write(WORD_HEAD)
            for _ in range(count // 10_000):
                xml.write(block)
            xml.write(BOMB_PARAGRAPH * (count % 10_000))
            xml.write(WORD_TAIL)
    return out.getvalue()


def text_docx(paragraphs: list[str]) -> bytes:
    """A .docx holding these paragraphs."""
    body = b"".join(b"<w:p><w:r><w:t xml:space='preserve'>" + escape(p).encode() + b"</w:t></w:r></w:p>"
                    for p in paragraphs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", WORD_HEAD + body + WORD_TAIL)
    return out.getvalue()
