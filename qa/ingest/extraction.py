"""A file's bytes to its raw text, by type: text in UTF-8 or a legacy encoding, Markdown, PDF, Word, HTML."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from qa.ingest.docx import docx_text
from qa.errors import LimitError

from qa.ingest.pdf import pdf_text


def extract_text(suffix: str, data: bytes, max_unpacked_bytes: int | None = None, max_chars: int | None = None) -> str:
    """The raw text of a file's bytes, by its type; raises ValueError for binary or undecodable data, and
    LimitError (a ValueError) when a Word file unpacks to more than `max_unpacked_bytes` or the text passes
    `max_chars` (checked as a Word file or a PDF is read, so reading stops there)."""
    if suffix == ".pdf":
        text = pdf_text(data, max_chars)
    elif suffix == ".docx":
        text = docx_text(data, max_unpacked_bytes, max_chars)
    else:
        text = _markup_text(suffix, data)
    if max_chars is not None and len(text) > max_chars:
        raise LimitError.text(max_chars)
    return text


def _markup_text(suffix: str, data: bytes) -> str:
    html = suffix in (".html", ".htm")
    text = _decode(data, _declared_charset(data) if html else None)
    if suffix == ".md":
        text, html = _markdown_html(text), True
    if html:
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        return parser.text()
    return text


# An HTML page's own <meta charset> or http-equiv declaration, looked for where browsers look: the first 1 KB.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# Labels that mean Windows-1252 on the web (the WHATWG Encoding Standard), Python's Latin-1 being stricter.
_WINDOWS_1252_LABELS = {"ascii", "us-ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "cp819"}
# Windows-1252 decodes almost any bytes, so its result must read as Western text: accented letters within
# mostly-ASCII words. Greek or Cyrillic bytes come out as words of only non-ASCII letters ("Ïðèâåò"),
# random bytes as mostly non-ASCII characters.
LEGACY_MAX_NON_ASCII = 0.3  # share of characters
LEGACY_MAX_FOREIGN_WORDS = 0.1  # share of words of two letters or more with no ASCII letter
_LETTER_RUN = re.compile(r"[^\W\d_]{2,}")


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:1024])
    if not match:
        return None
    label = match.group(1).decode("ascii").lower()
    return "cp1252" if label in _WINDOWS_1252_LABELS else label


def _decode(data: bytes, declared: str | None = None) -> str:
    """UTF-8 (or UTF-16 with a BOM); else the encoding an HTML page declares; else Windows-1252 when the
    result reads as Western text. Windows-1252 is what browsers assume for unlabelled legacy pages, and the
    usual encoding of older Western text files, so such files are read rather than skipped."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError("is not valid UTF-16 text") from exc
    if b"\x00" in data[:8192]:
        raise ValueError("is binary, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = _legacy_decode(data, declared)
        if text is None:
            raise ValueError(f"is not UTF-8 text (undecodable byte at offset {exc.start}) and does not read as "
                             f"Windows-1252 either: save it as UTF-8") from exc
    controls = sum(1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > 0.05 * min(len(text), 8192):
        raise ValueError("is binary, not text")
    return text


def _legacy_decode(data: bytes, declared: str | None) -> str | None:
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, ValueError):
            pass  # an unknown or wrong label: try the Western default
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None  # the five bytes Windows-1252 leaves undefined
    if sum(1 for ch in text if ord(ch) > 127) > LEGACY_MAX_NON_ASCII * len(text):
        return None
    words = _LETTER_RUN.findall(text)
    foreign = sum(1 for w in words if not any(c.isascii() for c in w))
    return text if foreign <= LEGACY_MAX_FOREIGN_WORDS * len(words) else None


# Front matter, a site generator's metadata: YAML between "---" lines (Jekyll, Hugo), TOML between "+++" (Hugo).
_YAML_BLOCK = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)
_TOML_BLOCK = re.compile(r"\A\+\+\+[ \t]*\r?\n(.*?)^\+\+\+[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)
_YAML_KEY = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|$)")  # "title: x", "tags:"; not "Note to self: x"
_YAML_OTHER = re.compile(r"[ \t]*-(?:[ \t]|$)|[ \t]+\S|[ \t]*#")  # a list item, a continuation, a comment
_TOML_KEY = re.compile(r"""(?:[\w.-]+|"[^"]*"|'[^']*')[ \t]*=|\[""")  # 'title = "x"', "[params]"


def _markdown_html(text: str) -> str:
    """Markdown rendered to HTML (CommonMark and tables), so that link targets, emphasis and table rules
    leave the text; a leading front-matter block is metadata, not text."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text[_front_matter_end(text):])


def _front_matter_end(text: str) -> int:
    """Where a leading YAML or TOML front-matter block ends: 0 when the text has none."""
    if match := _TOML_BLOCK.match(text):
        lines = [line for line in match.group(1).splitlines() if line.strip()]
        # "+++" begins nothing else in Markdown: a block that begins like TOML is TOML.
        return match.end() if lines and _TOML_KEY.match(lines[0]) else 0
    if match := _YAML_BLOCK.match(text):
        lines = [line for line in match.group(1).splitlines() if line.strip()]
        # "---" is also a thematic break, and a paragraph between two of them is text: only YAML throughout is metadata.
        if lines and _YAML_KEY.match(lines[0]) and all(_YAML_KEY.match(line) or _YAML_OTHER.match(line)
                                                       for line in lines):
            return match.end()
    return 0



class _TextExtractor(HTMLParser):
    """Text of an HTML page without its chrome, as a browser's reader view gives it.

    Block elements become paragraph breaks, <br> a line break, and a table row one line with its cells
    joined by " | ". Scripts, styles, navigation, asides, forms and hidden elements are dropped, and so
    are the page's own header and footer (those outside <main> and <article>). When the page marks its
    content with <main> or <article>, only that content is kept, after the <title>: menus, cookie
    notices and "related stories" around it would otherwise be retrieved and read as if they were the
    page.
    """

    BLOCKS = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "caption",
              "section", "article", "main", "header", "footer", "blockquote", "pre", "title", "dl", "dd", "dt",
              "figure", "figcaption", "details", "summary", "address", "hr"}
    CELLS = {"td", "th"}
    HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object", "canvas", "nav",
              "aside", "form", "button", "select", "dialog", "menu"}
    HIDDEN_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alert"}
    CONTENT = {"main", "article"}
    CHROME = {"header", "footer"}  # the page's own; an article's header holds its headline
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    # An inline style that hides the element: "display:none", "Display: None !important", "visibility:hidden".
    HIDING_STYLE = re.compile(
        r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!\s*important\s*)?(?:;|$)", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._open: list[tuple[str, bool, bool]] = []  # (tag, hides, is content) of each open element
        self._hidden = self._content = 0  # open elements that hide their text / that hold the content
        self._cells = 0  # cells begun in the current table row
        self._cell_gap = False  # a new cell began since the last text; a paragraph break also separates
        self._title: list[str] = []
        self._page: list[str] = []
        self._main: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self._cells = 0
        if tag in self.BLOCKS:
            self._break()
        elif tag in self.CELLS:
            self._cell_gap = self._cells > 0
            self._cells += 1
        if tag == "br":
            self._add("\n")  # a line break inside the block: cleaning joins it to an open sentence
        if tag in self.VOID:
            return
        a = dict(attrs)
        hides = (tag in self.HIDDEN or "hidden" in a or a.get("aria-hidden") == "true"
                 or bool(self.HIDING_STYLE.search(a.get("style") or ""))
                 or a.get("role") in self.HIDDEN_ROLES or (tag in self.CHROME and not self._content))
        self._open.append((tag, hides, tag in self.CONTENT))
        self._hidden += hides
        self._content += tag in self.CONTENT

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self._break()
        if not any(t == tag for t, _, _ in self._open):
            return  # a stray end tag
        while self._open:  # also closes elements left open inside this one, as browsers do
            t, hides, content = self._open.pop()
            self._hidden -= hides
            self._content -= content
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "title" and all(t in ("html", "head", "title") for t, _, _ in self._open):
            self._title.append(data)  # the page's title, not an <svg>'s
        elif not self._hidden:
            if self._cell_gap and data.strip():
                self._add(" | ")
                self._cell_gap = False
            self._add(data.replace("\n", " "))

    def _break(self) -> None:
        self._add("\n\n")
        self._cell_gap = False

    def _add(self, text: str) -> None:
        self._page.append(text)
        if self._content:
            self._main.append(text)

    def text(self) -> str:
        main = "".join(self._main)
        return "".join(self._title) + "\n\n" + (main if main.strip() else "".join(self._page))
