"""Where in a passage an answer may begin and end, by its text: the rules the reader's decoding keeps to.

A person underlining an answer never stops inside "HCoV‐HKU1" at its Unicode hyphen, never opens a bracket
without closing it ("12) months"), never underlines a section number ("10.7") or a list marker ("(a)") alone,
and leaves out the full stop that ends a sentence ("Kansas." is "Kansas"; "Inc." keeps its own). The network
scores token boundaries and knows none of this, so `SpanText` says, for one passage, which character spans
pass, which need only a cosmetic trim, and which brackets a span must take whole or leave out.
"""

from __future__ import annotations

import bisect
import re

# Hyphens that join the parts of one word: U+2010 hyphen, U+2011 non-breaking hyphen, U+2012 figure dash,
# U+00AD soft hyphen, and the small and full-width hyphen-minus.
_HYPHEN = re.compile(r"(?<=[^\W_])[\u2010\u2011\u2012\u00ad\ufe63\uff0d](?=[^\W_])")
# The en dash (U+2013) joins the parts of a code ("HCoV–HKU1", "COVID–19", "HIV–1"), but it also marks a range
# ("1914–1918", "1928–present") and joins two names ("Portugal–Spain border"), each an answer of its own.
_EN_DASH = re.compile(r"([^\W_]+)\u2013(?=([^\W_]+))")
_CODE = re.compile(r"[A-Z].*[A-Z]|[A-Za-z].*\d|\d.*[A-Za-z]")  # two capitals, or letters and digits
_DOTTED = re.compile(r"(?<![\w.])(?:[A-Za-z]\.){2,}")  # "U.S.", "e.g.", "N.A.": one word, not "S." or ".S."

_PAIRS = {"(": ")", "[": "]", "{": "}", "“": "”", "‘": "’", "«": "»"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_BRACKETS = re.compile(r"[()\[\]{}“”‘’«»\"]")

_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million".split())
# A number that heads a section ("10.7", "2.2", "6.01", "1."), or a reference's number ("Section 10.7").
_NUMBER = re.compile(r"(?<![\w.,/-])\d{1,3}(?:\.\d{1,3})*\.?(?![\d,])")
_REFERENCE = re.compile(r"(?:sections?|articles?|clauses?|paragraphs?|schedules?|exhibits?|annex|appendix|§§?)\s*$",
                        re.IGNORECASE)
_PARENTHESISED = re.compile(r"\((?:[a-zA-Z]|[ivxlc]{1,6}|[IVX]{1,5}|\d{1,2})\)")  # (a) (iv) (B) (2)
_LINE_MARKER = re.compile(r"(?m)^[ \t]*((?:[a-zA-Z]|[ivxlc]{1,6}|[IVX]{1,5}|\d{1,3})[.)])(?=\s)")  # a. iv. 1)
_SENTENCE_END = re.compile(r"[.;:!?]\s+$")
_PREVIOUS_WORD = re.compile(r"(\w+)[\s\-]*$")
_WORD = re.compile(r"[^\W\d_]+")

_TRAILING = ".,;:!?…-‐‑‒–—"  # dropped from a span's end, but a full stop that belongs to its word stays
_LEADING = ",;:!?…"
_DASHES = "-‐‑‒–—"
_ABBREVIATIONS = frozenset(
    "inc ltd co corp no nos jr sr st mr mrs ms dr prof bros esq etc al vs v plc pty pte ltda cia assn dept univ "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split())
_ACRONYM = re.compile(r"(?:^|[^\w.])(?:[A-Za-z]\.)+[A-Za-z]$")  # "U.S" before its last full stop, "e.g", "N.A"
_LAST_WORD = re.compile(r"[\w.]+$")


def glued_edges(text: str) -> list[int]:
    """Character positions inside one word that the tokenizer splits: either side of a joining hyphen, and
    within a dotted abbreviation."""
    edges = [edge for m in _HYPHEN.finditer(text) for edge in (m.start(), m.end())]
    edges += [i for m in _DOTTED.finditer(text) for i in range(m.start() + 1, m.end())]
    for m in _EN_DASH.finditer(text):
        left, right = m.group(1), m.group(2)
        if not (left.isdigit() and right.isdigit()) and (_CODE.search(left) or _CODE.search(right)):
            edges += [m.end() - 1, m.end()]
    return sorted(edges)


def bracket_partners(text: str) -> dict[int, int]:
    """Each bracket or quotation mark that has a partner in `text`, mapped to its partner's position.

    Pairs are matched as written, each kind on its own stack: an opening mark with no closing one (or "a)"
    opening a list, or the inch mark of 6'2") has no partner, and no span is held to it. A straight double
    quote opens after a space, a bracket or the start, and closes otherwise; a right single quote between
    letters is an apostrophe ("party’s").
    """
    partners: dict[int, int] = {}
    stacks: dict[str, list[int]] = {}
    for m in _BRACKETS.finditer(text):
        i, ch = m.start(), m.group()
        if ch == '"':
            opening = i == 0 or text[i - 1].isspace() or text[i - 1] in "([{—–-"
            kind, closing = '"', not opening
        elif ch == "’" and 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            continue
        else:
            kind, closing = _CLOSERS.get(ch, ch), ch in _CLOSERS
        stack = stacks.setdefault(kind, [])
        if not closing:
            stack.append(i)
        elif stack:
            j = stack.pop()
            partners[i], partners[j] = j, i
    return partners


HEADING, ITEM, REFERENCE = "heading", "item", "reference"


def markers(text: str) -> list[tuple[int, int, str]]:
    """Section numbers and list markers in `text`: (start, end, kind) of each, in order.

    - HEADING: a number that heads a section or a line's list item ("10.7 Governing Law", "1. DEFINITIONS",
      "iv. the Licensee"), with the heading run into it ("2.2Termination"); a span that begins or ends with
      one is trimmed of it.
    - ITEM: a list marker within a line ("(a) the Company"); a span that begins with one is trimmed of it.
    - REFERENCE: a reference's number ("Section 10.7"): "Section 10.7" is an answer, "10.7" alone is not.

    Decimal numbers in prose ("rose by 10.7 percent") are none of these: a heading's number stands at the start
    of a line, or after a sentence and before a capital; "twelve (12) months" says its number twice.
    """
    found: dict[tuple[int, int], str] = {}
    for m in _NUMBER.finditer(text):
        i, number = m.start(), m.group()
        line_start = not text[text.rfind("\n", 0, i) + 1:i].strip()  # at the start of a line, or of the passage
        if _REFERENCE.search(text, max(0, i - 20), i):
            found[m.span()] = REFERENCE
        elif "." in number and (line_start or (_SENTENCE_END.search(text, max(0, i - 4), i)
                                               and text[m.end():m.end() + 1].isupper())):
            glued = _WORD.match(text, m.end())  # "2.2Termination": a heading run into its number is part of it
            found[(i, glued.end() if glued else m.end())] = HEADING
    for m in _PARENTHESISED.finditer(text):
        inside = m.group()[1:-1]
        previous = _PREVIOUS_WORD.search(text, max(0, m.start() - 30), m.start())
        if inside.isdigit() and previous and (previous.group(1).lower() in _NUMBER_WORDS
                                              or previous.group(1).isdigit()):
            continue  # "twelve (12) months": the number again, in figures
        found.setdefault(m.span(), ITEM)
    lines = [(m.group(1)[:-1], m.span(1)) for m in _LINE_MARKER.finditer(text)]
    labels = {label for label, _ in lines}
    for label, span in lines:
        # A lone letter opens a list item only beside its neighbour ("A." and "B."): "F. Hoffmann-La Roche" is a name.
        if len(label) == 1 and label.isalpha() and label not in "aAiI" and \
                not {chr(ord(label) - 1), chr(ord(label) + 1)} & labels:
            continue
        found[span] = HEADING
    return sorted((a, b, kind) for (a, b), kind in found.items())


def owns_full_stop(text: str, end: int) -> bool:
    """Whether the full stop at `text[end - 1]` belongs to the word before it ("Inc.", "U.S.", "No.")."""
    word = _LAST_WORD.search(text, max(0, end - 30), end - 1)
    if word is None:
        return False
    w = word.group()
    return w.lower().rsplit(".", 1)[-1] in _ABBREVIATIONS or bool(_ACRONYM.search(text, max(0, end - 30), end - 1))


class SpanText:
    """One passage's text, read once for the rules every span of it keeps to."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.partners = bracket_partners(text)
        self._paired = sorted(self.partners)
        self.markers = markers(text)
        self._marker_starts = [m[0] for m in self.markers]

    def _marker_at(self, i: int) -> tuple[int, int, str] | None:
        k = bisect.bisect_right(self._marker_starts, i) - 1
        return self.markers[k] if k >= 0 and self.markers[k][0] <= i < self.markers[k][1] else None

    def tidy(self, a: int, b: int, starts: list[int], ends: list[int]) -> tuple[int, int] | None:
        """The span [a, b) trimmed of what a person would not underline, or None when nothing is left.

        Trimmed: a leading section number or list marker, a trailing section number, punctuation that opens
        ("," ";") or closes (".", ",") it, unless a full stop belongs to its word; a span that stops just before
        its last word's own full stop takes it ("Inc." "U.S."). `starts` and `ends` (sorted) are where a span may
        begin and end; a trim moves to the next of them. A span that is only markers and punctuation is None.
        """
        text = self.text
        while a < b:
            marker = self._marker_at(a)
            ch = text[a]
            if marker is not None and marker[2] != REFERENCE:
                a = marker[1]
            elif ch.isspace() or ch in _LEADING or (ch == "." and not text[a + 1:a + 2].isalnum()) or \
                    (ch in _DASHES and text[a + 1:a + 2].isspace()):
                a += 1
            else:
                break
            k = bisect.bisect_left(starts, a)
            a = starts[k] if k < len(starts) else b
        while a < b:
            ch, marker = text[b - 1], self._marker_at(b - 1)
            if marker is not None and marker[2] == HEADING:
                b = marker[0]
            elif not (ch.isspace() or (ch in _TRAILING and not (ch == "." and owns_full_stop(text, b)))):
                break
            else:
                b -= 1
            k = bisect.bisect_right(ends, b) - 1
            b = ends[k] if k >= 0 else a
        if b <= a or not self._says_something(a, b):
            return None
        k = bisect.bisect_left(ends, b + 1)
        if text[b:b + 1] == "." and k < len(ends) and ends[k] == b + 1 and owns_full_stop(text, b + 1):
            b += 1  # "Inc" takes its full stop: "Inc."
        return a, b

    def _says_something(self, a: int, b: int) -> bool:
        """Whether [a, b) holds a letter or digit outside every marker."""
        i = a
        while i < b:
            marker = self._marker_at(i)
            if marker is not None:
                i = marker[1]
                continue
            if self.text[i].isalnum():
                return True
            i += 1
        return False

    def unpaired(self, a: int, b: int) -> tuple[int, int] | None:
        """The first bracket or quotation mark in [a, b) whose partner lies outside it, as (its position, its
        partner's); None when the span is balanced."""
        k = bisect.bisect_left(self._paired, a)
        while k < len(self._paired) and self._paired[k] < b:
            i = self._paired[k]
            if not a <= self.partners[i] < b:
                return i, self.partners[i]
            k += 1
        return None
