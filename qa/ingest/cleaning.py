"""Raw text to clean text: mojibake repaired, white space folded, broken lines rejoined, noise dropped."""

from __future__ import annotations

import re

import ftfy

_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_NOT_PLAIN = re.compile(r"[^\t\n\x20-\x7e]")  # what ftfy may change: not printable ASCII (\r too)
_SENTENCE_ENDS = frozenset(".!?:;\"'”’)]")
_LETTERS = re.compile(r"[^\W\d_]+")
_HYPHENATED = re.compile(r"([^\W\d_]+)-$")  # a line ending in a word cut by a hyphen
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# Below this many characters a paragraph is too short to be told apart as content by its length alone
# (jusText's length_high, Pomikálek 2011): the notices and adverts that end web pages are this short.
SHORT_PARAGRAPH = 200


def clean_text(raw: str, rejoin_paragraphs: bool = True) -> str:
    """Repair mojibake, fold white space, rejoin broken paragraphs and drop repeated ones.

    A line that goes on with a sentence left open is joined to it. Across a blank line too when
    `rejoin_paragraphs` (plain text and PDF, where a blank line may be a page break); not where the
    paragraphs are the file's own structure (HTML, Markdown, Word), where a list item or a table cell
    may well begin in lower case.
    """
    # Entities are the markup's business, decoded once by extraction; in plain text "&amp;" is what the file says.
    text = _fix_mojibake(raw)
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    vocabulary = set(_LETTERS.findall(text.lower()))
    # Each paragraph is a list of its lines (with their separators), joined once at the end, and only the
    # paragraph's end is ever looked at: re-reading or copying the whole paragraph at each rejoined line made
    # cleaning quadratic in its length (a 100,000-character text of short lines took 51 s).
    paragraphs: list[list[str]] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        for n, line in enumerate(lines):
            # A line or blank line inside a sentence (hard wrapping, a PDF line or page break) is no paragraph break.
            if paragraphs and (n or rejoin_paragraphs):
                parts = paragraphs[-1]
                head = _hyphenated_word(parts)
                if head is not None or (parts[-1][-1:] not in _SENTENCE_ENDS and line[0].islower()):
                    _join_line(parts, line, head, vocabulary)
                    continue
            paragraphs.append([line])
    return "\n\n".join(_drop_link_tail(_drop_repeats(["".join(parts) for parts in paragraphs])))


def _fix_mojibake(raw: str) -> str:
    """ftfy's repairs, asked only of the lines that hold something to repair.

    ftfy works a line at a time, and a line of printable ASCII is returned as it is: skipping those saves
    ftfy's cost per line (about 15 µs), which made text of many short lines slow.
    """
    out, pos = [], 0
    while match := _NOT_PLAIN.search(raw, pos):
        start = raw.rfind("\n", pos, match.start()) + 1 or pos
        end = raw.find("\n", match.end())
        end = len(raw) if end < 0 else end + 1
        out.append(raw[pos:start])
        out.append(ftfy.fix_text(raw[start:end], unescape_html=False))
        pos = end
    out.append(raw[pos:])
    return "".join(out)


def _hyphenated_word(parts: list[str], window: int = 64) -> str | None:
    """The word cut by a hyphen at the end of a paragraph (held as its lines), or None.

    Only the paragraph's last characters are searched, in a window that grows while the word fills it:
    a search of the whole paragraph at every line is what made cleaning quadratic.
    """
    if not parts[-1].endswith("-"):
        return None
    while True:
        tail, have, i = [], 0, len(parts)
        while i and have < window:
            i -= 1
            tail.append(parts[i])
            have += len(parts[i])
        end = "".join(reversed(tail))[-window:]
        match = _HYPHENATED.search(end)
        if match is None:
            return None
        if match.start() or len(end) < window:
            return match.group(1)
        window *= 2  # the word may begin before the window


def _join_line(parts: list[str], line: str, head: str | None, vocabulary: set[str]) -> None:
    """Rejoin a line to the paragraph before it; a word hyphenated across them ("Immigra-" "tion") is made whole.

    The hyphen goes when the document uses the whole word elsewhere, else it stays ("well-" "known"
    gives "well-known"): a typeset line break does not say which it was.
    """
    if head is None:
        parts.append(" " + line)
        return
    tail = _LETTERS.match(line)
    if tail and (head + tail.group(0)).lower() in vocabulary:
        parts[-1] = parts[-1][:-1]
    parts.append(line)


def _drop_repeats(paragraphs: list[str]) -> list[str]:
    """Keep the first of exact repeated paragraphs (photo captions), and undo a paragraph said twice."""
    seen: set[str] = set()
    kept = []
    for para in paragraphs:
        half = len(para) // 2
        # Only a sentence said twice: a short name said twice ("Bora Bora", "Walla Walla") is the name.
        twice = len(para) % 2 == 1 and para[:half] == para[half + 1:] and para[half] == " "
        if twice and len(para[:half].split()) > 3:
            para = para[:half]
        if para in seen:
            continue
        seen.add(para)
        kept.append(para)
    return kept


def _drop_link_tail(paragraphs: list[str]) -> list[str]:
    """Drop the run of short paragraphs that ends a document when one of them holds a link: a survey
    advert, "read more at ...", a site notice. The text before it stays; a document of only short
    paragraphs is kept whole."""
    tail = len(paragraphs)
    while tail and len(paragraphs[tail - 1]) < SHORT_PARAGRAPH:
        tail -= 1
    if tail and any(_URL.search(p) for p in paragraphs[tail:]):
        return paragraphs[:tail]
    return paragraphs
