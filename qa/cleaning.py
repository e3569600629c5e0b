"""Raw text to clean text: mojibake repaired, white space folded, broken lines rejoined, noise dropped."""

from __future__ import annotations

import re

import ftfy

_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ENDS_SENTENCE = re.compile(r"[.!?:;\"'”’)\]]$")
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
    text = ftfy.fix_text(raw, unescape_html=False)
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    vocabulary = set(_LETTERS.findall(text.lower()))
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        for n, line in enumerate(lines):
            # A line or blank line inside a sentence (hard wrapping, a PDF line or page break) is no paragraph break.
            if paragraphs and (n or rejoin_paragraphs) and (_HYPHENATED.search(paragraphs[-1]) or
                                                          (not _ENDS_SENTENCE.search(paragraphs[-1]) and line[0].islower())):
                paragraphs[-1] = _join_lines(paragraphs[-1], line, vocabulary)
            else:
                paragraphs.append(line)
    return "\n\n".join(_drop_link_tail(_drop_repeats(paragraphs)))


def _join_lines(left: str, right: str, vocabulary: set[str]) -> str:
    """Rejoin a line with the next; a word hyphenated across them ("Immigra-" "tion") is made whole.

    The hyphen goes when the document uses the whole word elsewhere, else it stays ("well-" "known"
    gives "well-known"): a typeset line break does not say which it was.
    """
    head = _HYPHENATED.search(left)
    if not head:
        return f"{left} {right}"
    tail = _LETTERS.match(right)
    if tail and (head.group(1) + tail.group(0)).lower() in vocabulary:
        return left[:-1] + right
    return left + right


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
