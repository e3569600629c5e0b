"""The text of a Word (.docx) file, read as a stream: its unpacked size and its text are bounded as it is read.

A .docx is a zip archive, so a small file may unpack to far more (a zip bomb: 450 KB became 150 MB of
XML holding 63 M characters). Building the whole XML tree cost 2 GB of memory and 50 s; reading the
XML as a stream (expat) holds one paragraph at a time and stops at the text limit.
"""

from __future__ import annotations

import io
import zipfile
from xml.parsers import expat

from qa.errors import LimitError

_WORD = "http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _TR, _TC, _T = (_WORD + tag for tag in ("p", "tbl", "tr", "tc", "t"))
_SPACE_TAGS = {_WORD + tag for tag in ("tab", "br", "cr")}
READ_BYTES = 1 << 16


def docx_text(data: bytes, max_unpacked_bytes: int | None = None, max_chars: int | None = None) -> str:
    """The body of a Word document: a paragraph per line, a table row per line with its cells joined by " | ".

    Its headers, footers, notes and deleted text are not read. Raises LimitError past a limit, and
    ValueError when the file is damaged.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if max_unpacked_bytes is not None and info.file_size > max_unpacked_bytes:
                raise LimitError(f"unpacks to {info.file_size / 2**20:,.0f} MB, over the limit of "
                                 f"{max_unpacked_bytes / 2**20:g} MB (QA_MAX_UNPACKED_BYTES)")
            reader = _BodyReader(max_chars)
            with archive.open(info) as stream:  # zipfile stops at the size the archive declares
                while block := stream.read(READ_BYTES):
                    reader.parser.Parse(block, False)
            reader.parser.Parse(b"", True)
    except (LimitError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib and expat each fail their own way on a damaged file
        raise ValueError(f"is not a readable Word document ({type(exc).__name__}: {exc})") from exc
    return "\n\n".join(reader.blocks)


class _BodyReader:
    """Expat handlers that gather the blocks of the body as the XML streams past.

    The same text as walking the tree: a paragraph is all the text within it (nested paragraphs, as in
    a text box, included); a table row is its cells, each the paragraphs within it joined by " ";
    paragraphs within a paragraph or a table are not blocks of their own.
    """

    def __init__(self, max_chars: int | None) -> None:
        self.blocks: list[str] = []
        self.max_chars = max_chars
        self.chars = 0  # in the blocks so far and the paragraphs open now
        self._depth = 0
        self._paragraphs: list[list[str]] = []  # the text of each open paragraph
        self._slots: list[int | None] = []  # for each open paragraph, its place among the cell's parts
        self._table = 0  # the depth of the table whose rows are blocks; 0 outside one
        self._cells: list[str] | None = None  # the cells of its open row
        self._parts: list[str | None] | None = None  # the paragraphs of its open cell
        self._text: list[str] | None = None  # characters of an open <w:t>
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._data

    def _start(self, tag: str, attrs: dict) -> None:
        self._depth += 1
        if tag == _P:
            self._paragraphs.append([])
            slot = None
            if self._parts is not None:  # a cell's paragraphs keep the order they begin in
                slot = len(self._parts)
                self._parts.append(None)
            self._slots.append(slot)
        elif tag == _T:
            self._text = []
        elif tag == _TBL and not self._table and not self._paragraphs:
            self._table = self._depth
        elif tag == _TR and self._table and self._depth == self._table + 1:
            self._cells = []
        elif tag == _TC and self._cells is not None and self._depth == self._table + 2:
            self._parts = []

    def _end(self, tag: str) -> None:
        self._depth -= 1
        if tag == _T and self._text is not None:
            self._add("".join(self._text))
            self._text = None
        elif tag in _SPACE_TAGS:
            self._add(" ")
        elif tag == _P and self._paragraphs:
            text = "".join(self._paragraphs.pop())
            slot = self._slots.pop()
            if slot is not None and self._parts is not None:
                self._parts[slot] = text
            elif not self._paragraphs and not self._table:
                self.blocks.append(text)
        elif tag == _TC and self._parts is not None and self._depth == self._table + 1:
            self._cells.append(" ".join(p for p in self._parts if p is not None))
            self._parts = None
        elif tag == _TR and self._cells is not None and self._depth == self._table:
            self.blocks.append(" | ".join(self._cells))
            self._cells = None
        elif tag == _TBL and self._depth + 1 == self._table:
            self._table = 0

    def _data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def _add(self, text: str) -> None:
        for paragraph in self._paragraphs:  # an enclosing paragraph holds a nested one's text too
            paragraph.append(text)
        self.chars += len(text)
        if self.max_chars is not None and self.chars > self.max_chars:
            raise LimitError.text(self.max_chars)
