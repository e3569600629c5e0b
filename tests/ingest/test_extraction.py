"""qa.ingest.extraction: the text of txt, html, md and pdf files, in UTF-8 or a legacy encoding."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest.cleaning import clean_text
from qa.ingest.documents import Skipped, read_document
from qa.ingest.extraction import extract_text
from qa.types import Document


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal, valid PDF with real text: each page is a list of lines set in Helvetica."""
    objects: list[bytes | None] = [b"<< /Type /Catalog /Pages 2 0 R >>", None,
                                   b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = ["BT /F1 12 Tf 72 720 Td 16 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


NEWS_PAGE = b"""<!DOCTYPE html><html><head><title>Ferry fares to rise | Harbour Times</title>
<meta name="viewport" content="width=device-width"></head>
<body>
<header><a href="/">Harbour Times</a> <form><input name="q"><button>Search</button></form></header>
<nav><ul><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<div class="cookie" role="dialog">We use cookies. <button>Accept</button></div>
<main>
  <article>
    <header><h1>Ferry fares to rise</h1><p>By Ann Lee</p></header>
    <p>Ferry fares between the islands will rise by 8% from 1 March, the operator said.</p>
    <figure><svg><title>chart icon</title></svg><figcaption>Fares since 2010.</figcaption></figure>
    <p hidden>Subscriber-only text.</p>
    <p>The last rise was in 2019.</p>
    <footer>Tags: transport</footer>
  </article>
  <aside><h2>Related stories</h2><p>Bus lanes open on Main Street.</p></aside>
</main>
<footer><p>Copyright 2026 Harbour Times. All rights reserved.</p></footer>
</body></html>"""


def test_html_keeps_the_content_and_drops_the_page_chrome() -> None:
    paragraphs = clean_text(extract_text(".html", NEWS_PAGE)).split("\n\n")
    assert paragraphs == ["Ferry fares to rise | Harbour Times", "Ferry fares to rise", "By Ann Lee",
                          "Ferry fares between the islands will rise by 8% from 1 March, the operator said.",
                          "Fares since 2010.", "The last rise was in 2019.", "Tags: transport"]


def test_html_without_main_or_article_keeps_the_body_less_navigation() -> None:
    page = (b"<html><body><nav>Home | About</nav><h1>Opening hours</h1><div><p>Open 9 to 5 on weekdays."
            b"<p>Closed on Sundays.</div><div aria-hidden='true'>Menu</div><footer>Contact us</footer></body></html>")
    assert clean_text(extract_text(".html", page)).split("\n\n") == [
        "Opening hours", "Open 9 to 5 on weekdays.", "Closed on Sundays."]


def test_html_entities_are_decoded() -> None:
    text = clean_text(extract_text(".html", b"<p>Fish &amp; chips cost &pound;5&nbsp;each.</p>"))
    assert text == "Fish & chips cost \u00a35 each."


@pytest.mark.parametrize(("name", "data", "text"), [
    ("shop.html", b"<p>Lars &amp;amp; Sons &amp;lt;est. 1902&amp;gt;</p>", "Lars &amp; Sons &lt;est. 1902&gt;"),
    ("shop.html", b"<p>Lars &amp; Sons sell &lt;b&gt;bold&lt;/b&gt; signs.</p>", "Lars & Sons sell <b>bold</b> signs."),
    ("shop.md", b"Lars &amp;amp; Sons, est. 1902.\n", "Lars &amp; Sons, est. 1902."),
])
def test_html_entities_are_decoded_once(tmp_path: Path, name: str, data: bytes, text: str) -> None:
    """What a browser shows: "&amp;amp;" is the text "&amp;", and "&lt;b&gt;" the text "<b>", not a tag."""
    (tmp_path / name).write_bytes(data)
    doc = read_document(tmp_path, tmp_path / name)
    assert isinstance(doc, Document), doc
    assert doc.text == text


@pytest.mark.parametrize("style", ["display:none", "color: red; Display : None ;", "DISPLAY:NONE !important",
                                   "visibility:hidden"])
def test_html_elements_hidden_by_their_style_are_dropped(style: str) -> None:
    page = (f'<p>The vault code is secret.</p><div style="{style}"><p>The vault code is 7781.</p></div>'
            '<p style="display: block">The orchard has 40 trees.</p>').encode()
    assert clean_text(extract_text(".html", page)).split("\n\n") == [
        "The vault code is secret.", "The orchard has 40 trees."]


def test_html_list_items_stay_apart_and_a_line_break_inside_a_sentence_does_not_end_it(tmp_path: Path) -> None:
    (tmp_path / "bakery.html").write_bytes(b"<p>The bakery sells:</p><ul><li>rye bread</li><li>sourdough</li></ul>"
                                           b"<p>The oven<br>was built in 1871.</p><p>12 Canal Street<br>Marlow</p>")
    doc = read_document(tmp_path, tmp_path / "bakery.html")
    assert doc.text.split("\n\n") == ["The bakery sells:", "rye bread", "sourdough", "The oven was built in 1871.",
                                       "12 Canal Street", "Marlow"]


def test_html_tables_give_a_row_per_line_and_cells_never_run_together() -> None:
    page = (b"<table><caption>Owners</caption><tr><th>Year</th><th>Owner</th></tr><tr><td>1954</td>"
            b"<td>Ida <b>Rosen</b></td></tr><tr><td><p>2019</p></td><td><p>Lena Park</p></td></tr></table>"
            b"<dl><dt>Oven</dt><dd>Wood-fired</dd></dl>")
    assert clean_text(extract_text(".html", page)).split("\n\n") == [
        "Owners", "Year | Owner", "1954 | Ida Rosen", "2019", "Lena Park", "Oven", "Wood-fired"]


def test_markdown_keeps_its_text_and_drops_its_syntax(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(
        "---\ntitle: Bakery notes\ntags: [history]\n---\n# Rosen's **Bakery**\n\n"
        "Rosen's Bakery opened on [Canal Street](https://example.com/canal) in 1954.\n"
        "It was founded by *Ida Rosen*, who came from Vienna. ![the oven](oven.jpg)\n\n"
        "| Year | Owner |\n|------|-------|\n| 2019 | Lena Park |\n", encoding="utf-8")
    doc = read_document(tmp_path, tmp_path / "notes.md")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == [
        "Rosen's Bakery",
        "Rosen's Bakery opened on Canal Street in 1954. It was founded by Ida Rosen, who came from Vienna.",
        "Year | Owner", "2019 | Lena Park"]


@pytest.mark.parametrize(("markdown", "paragraphs"), [
    # A thematic break, a paragraph and a later break: no front matter, the paragraph is text.
    ("---\nThe vault code is 7781 and it is kept by Ambrose Kettle.\n\n---\n\nThe orchard has 40 trees.\n",
     ["The vault code is 7781 and it is kept by Ambrose Kettle.", "The orchard has 40 trees."]),
    ("---\ntitle: Orchard\nThe vault code is 7781.\n---\nThe orchard has 40 trees.\n",
     ["title: Orchard The vault code is 7781.", "The orchard has 40 trees."]),
    ("---\n- Plant the pears.\n---\nThe orchard has 40 trees.\n", ["Plant the pears.", "The orchard has 40 trees."]),
    # YAML front matter: keys, list items, an indented block, a comment, blank lines; CRLF line ends; "..." ends it.
    ("---\ntitle: Orchard\ntags:\n- trees\n  - pears\nsummary: |\n  Forty trees.\n\n# draft\n---\n"
     "The orchard has 40 trees.\n", ["The orchard has 40 trees."]),
    ("---\r\ntitle: Orchard\r\n...\r\nThe orchard has 40 trees.\r\n", ["The orchard has 40 trees."]),
    # TOML front matter (Hugo).
    ('+++\ntitle = "Orchard"\ntags = [\n  "trees",\n]\n[params]\nowner = "Ambrose Kettle"\n+++\n'
     "The orchard has 40 trees.\n", ["The orchard has 40 trees."]),
])
def test_markdown_front_matter_is_dropped_and_a_thematic_break_is_not_front_matter(
        tmp_path: Path, markdown: str, paragraphs: list[str]) -> None:
    (tmp_path / "orchard.md").write_bytes(markdown.encode())
    doc = read_document(tmp_path, tmp_path / "orchard.md")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == paragraphs


def test_pdf_text_is_read_and_wrapped_lines_rejoined(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf([
        ["The Old Harbour Lighthouse was built in 1871 by", "the engineer Thomas Avery.", "Its light can be seen from"],
        ["twenty-two nautical miles away. The keepers kept the light-", "house log; each lighthouse keeper signed it."],
    ]))
    doc = read_document(tmp_path, tmp_path / "report.pdf")
    assert isinstance(doc, Document), doc
    assert doc.source == "report.pdf"
    # A sentence wrapped over two lines, and one broken by a page, each come back whole.
    assert "The Old Harbour Lighthouse was built in 1871 by the engineer Thomas Avery." in doc.text.split("\n\n")
    assert "Its light can be seen from twenty-two nautical miles away." in doc.text
    assert "The keepers kept the lighthouse log; each lighthouse keeper signed it." in doc.text


def test_pdf_page_numbers_and_running_headers_leave_sentences_whole(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf([
        ["Harbour Report 2021", "The lighthouse keepers of the", "Page 1 of 4"],
        ["2", "Harbour Report 2021", "old harbour kept a log. It was", "Page 2 of 4"],
        ["Harbour Report 2021", "signed daily. Its last entry is from 1961. The figures:", "12", "40", "Page 3 of 4"],
        ["Harbour Report 2021", "Harbour Report 2021 is the annual report of the harbour office.", "- 4 -"],
    ]))
    doc = read_document(tmp_path, tmp_path / "report.pdf")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == [
        "The lighthouse keepers of the old harbour kept a log. It was signed daily. Its last entry is from 1961. "
        "The figures:", "12", "40",  # only the page number goes from a page's end, never a column of figures
        "Harbour Report 2021 is the annual report of the harbour office."]


def test_a_two_page_pdf_loses_its_running_header_and_keeps_wrapped_sentences_whole(tmp_path: Path) -> None:
    """A short PDF is cleaned as a long one: its header on both pages goes, and a line the layout wrapped before
    a capital ("Northwind" / "Properties"), on a page or over the page break, is joined to its sentence."""
    header = "Harbour Lease Agreement - Confidential"
    (tmp_path / "lease.pdf").write_bytes(make_pdf([
        [header, "Lease Terms", "This lease is made between the Harbour Board and Northwind",
         "Properties Limited for the warehouse that stands on the old", "1"],
        [header, "Pier 9. The lease runs for ten years from the first of March.", "Rent", "The rent is due monthly.",
         "2"],
    ]))
    doc = read_document(tmp_path, tmp_path / "lease.pdf")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == [
        "Lease Terms",  # a short line is no wrapped one: a heading stays a paragraph of its own
        "This lease is made between the Harbour Board and Northwind Properties Limited for the warehouse that "
        "stands on the old Pier 9. The lease runs for ten years from the first of March.",
        "Rent", "The rent is due monthly."]


def test_a_pdf_that_breaks_the_parser_is_skipped_not_raised(tmp_path: Path) -> None:
    pdf = make_pdf([["The Old Harbour Lighthouse was built in 1871."], ["It is 34 metres tall."]])
    (tmp_path / "damaged.pdf").write_bytes(pdf.replace(b"trailer\n<<", b"trailer\n9<"))  # pypdf: AttributeError
    result = read_document(tmp_path, tmp_path / "damaged.pdf")
    assert isinstance(result, Skipped) and "not a readable PDF" in result.reason


def test_utf16_text_with_a_bom_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_bytes("The tower is 34 metres tall.".encode("utf-16"))
    doc = read_document(tmp_path, tmp_path / "wide.txt")
    assert isinstance(doc, Document)
    assert doc.text == "The tower is 34 metres tall."


@pytest.mark.parametrize(("name", "data", "text"), [
    ("latin1.txt", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.".encode("latin-1"), "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e."),
    ("smart.md", "He said \u201cno\u201d \u2014 it costs \u20ac5.".encode("cp1252"), 'He said "no" \u2014 it costs \u20ac5.'),
    ("declared.html", b'<html><head><meta charset="windows-1251"></head><body><p>'
     + "\u041c\u043e\u0441\u043a\u0432\u0430 \u2014 \u0441\u0442\u043e\u043b\u0438\u0446\u0430.".encode("cp1251") + b"</p></body></html>",
     "\u041c\u043e\u0441\u043a\u0432\u0430 \u2014 \u0441\u0442\u043e\u043b\u0438\u0446\u0430."),
    ("stray.txt", "Le caf\u00e9 est tr\u00e8s bon.".encode() + b" \xa0Fin.", "Le caf\u00e9 est tr\u00e8s bon. Fin."),
])
def test_legacy_encodings_are_read(tmp_path: Path, name: str, data: bytes, text: str) -> None:
    """Windows-1252 (and Latin-1) files, a page's declared charset, UTF-8 with one stray byte."""
    (tmp_path / name).write_bytes(data)
    doc = read_document(tmp_path, tmp_path / name)
    assert isinstance(doc, Document), doc
    assert doc.text == text


def make_docx(body: str) -> bytes:
    """A Word file holding `body`, WordprocessingML paragraphs and tables, as word/document.xml."""
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
           f'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", xml)
    return out.getvalue()


def test_docx_paragraphs_and_tables_are_read(tmp_path: Path) -> None:
    (tmp_path / "minutes.docx").write_bytes(make_docx(
        "<w:p><w:r><w:t>Harbour board minutes</w:t></w:r></w:p>"
        "<w:p><w:r><w:t xml:space='preserve'>The board met on </w:t></w:r><w:r><w:rPr><w:b/></w:rPr>"
        "<w:t>3 May</w:t></w:r><w:r><w:t>.</w:t><w:tab/><w:t>Ann Lee chaired it.</w:t></w:r></w:p>"
        "<w:p><w:del><w:r><w:delText>Withdrawn words.</w:delText></w:r></w:del></w:p>"
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Fares</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>up 8%</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"))
    doc = read_document(tmp_path, tmp_path / "minutes.docx")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == ["Harbour board minutes", "The board met on 3 May. Ann Lee chaired it.",
                                       "Fares | up 8%"]  # a table row per line


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really a zip", make_docx("<w:p><w:r><w:t>unclosed")])
def test_a_broken_docx_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a readable Word document"):
        extract_text(".docx", data)


# Tests assert behaviour, not time: hypothesis's too_slow check would fail them on a busy machine.
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([".txt", ".md", ".html", ".pdf", ".docx"]), st.data())
def test_any_bytes_give_text_or_a_clear_error(suffix: str, data: st.DataObject) -> None:
    """Whatever a file holds, reading it gives text or a ValueError with the reason, never another exception."""
    valid = {".pdf": make_pdf([["A page of text."], ["Another page."]]),
             ".docx": make_docx("<w:p><w:r><w:t>A paragraph.</w:t></w:r></w:p>")}.get(suffix, b"Plain text.\n")
    raw = data.draw(st.one_of(
        st.binary(max_size=2000),
        st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), max_size=8).map(  # a damaged file
            lambda edits: bytes(_edit(valid, edits)))))
    try:
        text = extract_text(suffix, raw)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(clean_text(text), str)


def _edit(data: bytes, edits: list[tuple[int, int]]) -> bytearray:
    out = bytearray(data)
    for at, byte in edits:
        out[at] = byte
    return out
