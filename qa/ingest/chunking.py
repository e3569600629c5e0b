"""Split a document into overlapping, sentence-aligned chunks that know their offsets."""

from __future__ import annotations

import hashlib
import re

from qa.types import Chunk, Document

# A sentence ends at . ! or ? (maybe followed by quotes or brackets) before white space and a
# capital, digit or quote; a paragraph break always ends one. Common abbreviations do not.
_BOUNDARY = re.compile(r"""(?<=[.!?])(?P<close>["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n""")
_ABBREVIATIONS = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|No|Nos|Co|Corp|Inc|Ltd|Jr|Sr|vs|etc|e\.g|i\.e|U\.S|a\.m|p\.m)|\b[A-Z])\.$")
_WORD = re.compile(r"\S+")

# Bumped when the same settings would cut other chunks, so that older indexes are rebuilt.
CHUNKING_VERSION = 2


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of each sentence of `text`, white space excluded."""
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if _ABBREVIATIONS.search(text[max(0, match.start() - 6):match.start()]):
            continue
        end = match.end("close") if match.group("close") is not None else match.start()  # keep closing quotes
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return [_strip(text, s, e) for s, e in spans]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _word_pieces(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence into pieces of at most `max_words` words."""
    words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(text[start:end])]
    return [(words[i][0], words[min(i + max_words, len(words)) - 1][1]) for i in range(0, len(words), max_words)]


def chunk_id(source: str, start: int, end: int) -> str:
    """A stable id from the document and the offsets."""
    return hashlib.sha1(f"{source}\x00{start}\x00{end}".encode()).hexdigest()[:16]


def chunk_document(doc: Document, words: int = 150, max_words: int = 200, overlap_words: int = 30) -> list[Chunk]:
    """Group whole sentences into chunks of about `words` words; consecutive chunks share trailing sentences."""
    units: list[tuple[int, int, int]] = []  # (start, end, word count)
    for s, e in sentence_spans(doc.text):
        n = len(_WORD.findall(doc.text[s:e]))
        pieces = _word_pieces(doc.text, s, e, max_words) if n > max_words else [(s, e)]
        units.extend((ps, pe, len(_WORD.findall(doc.text[ps:pe]))) for ps, pe in pieces)

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, count = i, 0
        while j < len(units) and (count < words or j == i) and count + units[j][2] <= max(max_words, units[i][2]):
            count += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(chunk_id(doc.source, start, end), doc.source, start, end, doc.text[start:end]))
        if j >= len(units):
            break
        i = _overlap_start(units, i, j, words, max_words, overlap_words)
    return chunks


def _overlap_start(units: list[tuple[int, int, int]], i: int, j: int, words: int, max_words: int,
                   overlap_words: int) -> int:
    """Where the chunk after units[i:j] starts: the trailing whole sentences nearest `overlap_words` long.

    At least one sentence is shared whenever it is at most half a chunk: sentence-aligned overlap that
    stopped short of `overlap_words` left most boundaries of long-sentenced news text with none. The
    next chunk still moves forward and has room for its first new sentence.
    """
    if overlap_words <= 0:
        return j
    room = min(words // 2, max_words - units[j][2])
    back, k = 0, j
    while k - 1 > i:
        n = units[k - 1][2]
        if back + n > room or (back and back + n / 2 >= overlap_words):  # a further sentence moves away from it
            break
        k -= 1
        back += n
    return k
