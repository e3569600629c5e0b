"""A PDF's bytes to its text: page by page, page furniture dropped, lines the layout wrapped joined."""

from __future__ import annotations

import io
import re

from qa.errors import LimitError


def pdf_text(data: bytes, max_chars: int | None = None) -> str:
    """The text of a PDF's pages, without page numbers and running headers and footers, wrapped lines joined;
    raises ValueError for a damaged PDF, and LimitError once the text passes `max_chars` (reading stops there)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages, chars = [], 0
        for page in reader.pages:
            pages.append((page.extract_text() or "").strip().split("\n"))
            chars += sum(len(line) + 1 for line in pages[-1])
            if max_chars is not None and chars > max_chars:
                raise LimitError.text(max_chars)
    except (LimitError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged PDF can fail anywhere in the parser; it must not stop a build
        raise ValueError(f"is not a readable PDF ({type(exc).__name__}: {exc})") from exc
    return _rejoin_wrapped(_drop_page_furniture(pages))


# A line this long, against the document's longest, ran to the right margin: the layout wrapped it.
PDF_FULL_LINE = 0.6
_OPEN_END = re.compile(r"[^.!?:;\"'”’)\]-]$")  # a line that leaves a sentence open (a hyphen is cleaning's)


def _rejoin_wrapped(pages: list[list[str]]) -> str:
    """The pages' lines as text, a line that the layout wrapped (a full line leaving its sentence open) joined to
    the next whatever its case ("Northwind" "Properties"), across a page break too; other breaks are kept."""
    longest = max((len(line.strip()) for lines in pages for line in lines), default=0)
    out = ""
    for lines in pages:
        for n, line in enumerate(lines):
            if not out:
                out = line
                continue
            prev = out[out.rfind("\n") + 1:].strip()
            wrapped = len(prev) >= PDF_FULL_LINE * longest and _OPEN_END.search(prev)
            out += " " if wrapped else "\n\n" if n == 0 else "\n"
            out += line
    return out


_PAGE_NUMBER = re.compile(r"^[\s|\-\u2013\u2014]*(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[\s|\-\u2013\u2014]*$",
                          re.IGNORECASE)  # "4", "- 4 -", "Page 3 of 10", "3/10"


def _drop_page_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers and running headers and footers from the top and bottom lines of PDF pages.

    Left in, they land between the two halves of a sentence that runs over a page break. A running
    line is one that, with its digits ignored, tops (or ends) at least half of the pages, and two.
    """
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.strip().lower())

    pages = [[line for line in lines if line.strip()] for lines in pages]
    counts: dict[tuple[int, str], int] = {}
    for lines in pages:  # the two lines at each end: a page number may come before a running header
        for k in {(0, key(line)) for line in lines[:2]} | {(-1, key(line)) for line in lines[-2:]}:
            counts[k] = counts.get(k, 0) + 1
    # Two pages suffice: a short document has its running header too.
    running = {k for k, n in counts.items() if n >= max(2, len(pages) / 2)}
    kept = []
    for lines in pages:
        for end in (0, -1):
            number = header = False  # one of each at most: a column of figures at a page's end stays
            while lines:
                if not number and _PAGE_NUMBER.match(lines[end]):
                    number = True
                elif not header and (end, key(lines[end])) in running:
                    header = True
                else:
                    break
                lines.pop(end)
        kept.append(lines)
    return kept
