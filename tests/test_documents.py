"""qa.documents: finding files, reading txt/md/html/pdf, cleaning, and skipping what cannot be read."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from qa.documents import Skipped, clean_text, extract_text, file_hash, find_files, read_document
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


def read(corpus: Path, name: str, **kw) -> Document | Skipped:
    return read_document(corpus, corpus / name, **kw)


# ---- finding files -------------------------------------------------------------------------------

def test_find_files_recurses_sorted_and_names_sources_relative(tiny_corpus: Path) -> None:
    (tiny_corpus / "notes" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # unsupported suffix
    found = find_files(tiny_corpus)
    assert [f.source for f in found] == ["bakery.md", "lighthouse.txt", "notes/festival.html"]


def test_hidden_files_and_folders_are_skipped(tiny_corpus: Path) -> None:
    (tiny_corpus / ".draft.txt").write_text("A hidden draft.", encoding="utf-8")
    (tiny_corpus / ".git").mkdir()
    (tiny_corpus / ".git" / "notes.md").write_text("Hidden folder.", encoding="utf-8")
    sources = [f.source for f in find_files(tiny_corpus)]
    assert sources == ["bakery.md", "lighthouse.txt", "notes/festival.html"]


def test_links_leaving_the_corpus_are_skipped_with_a_warning(tiny_corpus: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("A secret that lives outside the corpus.", encoding="utf-8")
    os.symlink(outside / "secret.txt", tiny_corpus / "secret.txt")
    os.symlink(outside, tiny_corpus / "elsewhere")
    with caplog.at_level(logging.WARNING, logger="qa.documents"):
        sources = [f.source for f in find_files(tiny_corpus)]
    assert sources == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    assert "secret.txt" in caplog.text


def test_a_link_to_a_file_inside_the_corpus_is_one_document(tiny_corpus: Path) -> None:
    os.symlink("lighthouse.txt", tiny_corpus / "beacon.txt")
    sources = [f.source for f in find_files(tiny_corpus)]
    assert sorted(sources) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]


# ---- reading each format -------------------------------------------------------------------------

def test_txt_is_read_and_hashed(tiny_corpus: Path) -> None:
    doc = read(tiny_corpus, "lighthouse.txt")
    assert isinstance(doc, Document)
    assert doc.source == "lighthouse.txt"
    assert doc.content_hash == file_hash((tiny_corpus / "lighthouse.txt").read_bytes())
    assert "It was built in 1871 by the engineer Thomas Avery" in doc.text
    assert doc.text.split("\n\n")[0] == "The Old Harbour Lighthouse"


def test_md_is_read(tiny_corpus: Path) -> None:
    doc = read(tiny_corpus, "bakery.md")
    assert isinstance(doc, Document)
    assert "Rosen's Bakery opened on Canal Street in 1954." in doc.text


def test_html_keeps_text_and_drops_script_and_style(tiny_corpus: Path) -> None:
    doc = read(tiny_corpus, "notes/festival.html")
    assert isinstance(doc, Document)
    assert doc.source == "notes/festival.html"
    paragraphs = doc.text.split("\n\n")
    assert "The Marlow Kite Festival takes place every August on the sands of Marlow Bay." in paragraphs
    assert "The prize for the largest kite is the Silver Gull trophy." in paragraphs
    assert "do not index me" not in doc.text
    assert "color" not in doc.text
    assert "<" not in doc.text


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


def test_markdown_keeps_its_text_and_drops_its_syntax(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(
        "---\ntitle: Bakery notes\ntags: [history]\n---\n# Rosen's **Bakery**\n\n"
        "Rosen's Bakery opened on [Canal Street](https://example.com/canal) in 1954.\n"
        "It was founded by *Ida Rosen*, who came from Vienna. ![the oven](oven.jpg)\n\n"
        "| Year | Owner |\n|------|-------|\n| 2019 | Lena Park |\n", encoding="utf-8")
    doc = read(tmp_path, "notes.md")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == [
        "Rosen's Bakery",
        "Rosen's Bakery opened on Canal Street in 1954. It was founded by Ida Rosen, who came from Vienna.",
        "Year Owner", "2019 Lena Park"]


def test_words_hyphenated_across_lines_are_rejoined() -> None:
    text = clean_text("The Immigra-\ntion Department said immigration rose. It is a well-\nknown fact.\n"
                      "The COVID-\n19 rules ended with the pre-\n\nCOVID era.")
    # The hyphen goes where the document has the whole word, and stays where it does not.
    assert text == ("The Immigration Department said immigration rose. It is a well-known fact.\n\n"
                    "The COVID-19 rules ended with the pre-COVID era.")


def test_html_entities_are_decoded() -> None:
    text = clean_text(extract_text(".html", b"<p>Fish &amp; chips cost &pound;5&nbsp;each.</p>"))
    assert text == "Fish & chips cost \u00a35 each."


def test_pdf_text_is_read_and_wrapped_lines_rejoined(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf([
        ["The Old Harbour Lighthouse was built in 1871 by", "the engineer Thomas Avery.", "Its light can be seen from"],
        ["twenty-two nautical miles away. The keepers kept the light-", "house log; each lighthouse keeper signed it."],
    ]))
    doc = read(tmp_path, "report.pdf")
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
    doc = read(tmp_path, "report.pdf")
    assert isinstance(doc, Document), doc
    assert doc.text.split("\n\n") == [
        "The lighthouse keepers of the old harbour kept a log. It was signed daily. Its last entry is from 1961. "
        "The figures:", "12", "40",  # only the page number goes from a page's end, never a column of figures
        "Harbour Report 2021 is the annual report of the harbour office."]


def test_utf16_text_with_a_bom_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_bytes("The tower is 34 metres tall.".encode("utf-16"))
    doc = read(tmp_path, "wide.txt")
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
    doc = read(tmp_path, name)
    assert isinstance(doc, Document), doc
    assert doc.text == text


# ---- cleaning ------------------------------------------------------------------------------------

def test_mojibake_in_seeds_is_repaired(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("003_*.txt"))
    raw = path.read_text(encoding="utf-8")
    assert "â€‹" in raw  # the file really holds the mojibake
    doc = read_document(seeds_dir, path)
    assert isinstance(doc, Document)
    assert "â€" not in doc.text and "\u200b" not in doc.text
    assert "\n\nThe Chief Secretary for Administration, Mr Chan Kwok-ki, today (June 25)" in doc.text


def test_mojibake_is_repaired() -> None:
    assert clean_text("The caf\u00c3\u00a9 opened in 2019.") == "The caf\u00e9 opened in 2019."


def test_repeated_paragraphs_in_seeds_are_dropped(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("002_*.txt"))
    caption = "The department participated in the publicity campaign of the National Security Education Day."
    assert path.read_text(encoding="utf-8").count(caption) == 2
    doc = read_document(seeds_dir, path)
    assert isinstance(doc, Document)
    assert doc.text.count(caption) == 1
    paragraphs = doc.text.split("\n\n")
    assert len(paragraphs) == len(set(paragraphs))


def test_a_paragraph_said_twice_is_said_once_but_names_stay_whole() -> None:
    sentence = "The department organised an open day for the public."
    assert clean_text(f"{sentence} {sentence}") == sentence
    assert clean_text("Bora Bora\n\nWalla Walla\n\nThank you. Thank you.") == \
        "Bora Bora\n\nWalla Walla\n\nThank you. Thank you."


def test_the_survey_advert_ending_a_seed_is_dropped(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("001_*.txt"))
    raw = path.read_text(encoding="utf-8")
    assert "Survey for overseas students" in raw and "https://" in raw
    doc = read_document(seeds_dir, path)
    assert "Survey" not in doc.text and "https://" not in doc.text and "cash" not in doc.text
    assert doc.text.endswith("a comprehensive and multifaceted cooperation strategy.")


ARTICLE = ("The Gull Point lighthouse was built in 1871 by Thomas Avery, who also designed the harbour wall, "
           "and it was kept by the Doyle family for three generations until its light was automated in 1952 "
           "by the harbour board.")


def test_a_short_tail_holding_a_link_is_dropped() -> None:
    tail = ["Office closed Jan 19 - Feb 24.", "Tell us what you think: https://example.org/survey",
            "Take part and win a prize!"]
    assert clean_text("\n\n".join([ARTICLE, *tail])) == ARTICLE
    assert clean_text(f"{ARTICLE}\n\nRead more at www.example.org/gull-point") == ARTICLE


def test_short_paragraphs_without_a_link_or_with_no_article_stay() -> None:
    ending = f"{ARTICLE}\n\nThe light is 34 metres tall.\n\nIt is painted red."
    assert clean_text(ending) == ending  # short, but no link: the article's own last lines
    note = "Meeting at five.\n\nDetails: https://example.org/meeting"
    assert clean_text(note) == note  # nothing but short paragraphs: no article to keep apart from them
    middle = f"{ARTICLE}\n\nSee https://example.org/map\n\n{ARTICLE.replace('1871', '1872')}"
    assert clean_text(middle) == middle  # a link inside the text, not in its tail


def test_paragraph_broken_mid_sentence_in_seeds_is_rejoined(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("000_*.txt"))
    assert "pointed out\n\nthat the Yangtze Delta" in path.read_text(encoding="utf-8")
    doc = read_document(seeds_dir, path)
    assert "pointed out that the Yangtze Delta" in doc.text


def test_white_space_is_normalised_and_paragraphs_kept() -> None:
    raw = "  First   paragraph\tends here.  \r\n\r\n\r\n\u00a0Second\u2003paragraph.\n\n\n\nThird one.  "
    assert clean_text(raw) == "First paragraph ends here.\n\nSecond paragraph.\n\nThird one."


def test_broken_lines_are_rejoined_but_sentences_and_headings_kept_apart() -> None:
    raw = ("Gull Point\n\nThe lighthouse was built\nin 1871 by Thomas Avery.\n\n"
           "It is 34 metres tall.\nit is painted red.")
    assert clean_text(raw).split("\n\n") == [
        "Gull Point",
        "The lighthouse was built in 1871 by Thomas Avery.",
        "It is 34 metres tall.",
        "it is painted red.",
    ]


# ---- files that cannot be used -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "data", "reason"), [
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary"),
    ("greek.txt", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5.".encode("iso-8859-7"), "not UTF-8"),
    ("noise.txt", bytes(range(160, 256)) * 4, "not UTF-8"),
    ("empty.md", b"", "no text"),
    ("blank.txt", b"  \n\n\t \r\n", "no text"),
    ("empty.html", b"<html><head><script>var a = 1;</script></head><body></body></html>", "no text"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "PDF"),
    ("fake.pdf", b"This is not a PDF at all.", "PDF"),
])
def test_unusable_files_are_skipped_with_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(data)
    result = read(tmp_path, name)
    assert isinstance(result, Skipped)
    assert result.source == name
    assert reason in result.reason


def test_oversized_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("A sentence of text. " * 100, encoding="utf-8")
    result = read(tmp_path, "big.txt", max_bytes=1000)
    assert isinstance(result, Skipped)
    assert re.search(r"larger than the limit of 1,?000 bytes", result.reason), result.reason
    assert isinstance(read(tmp_path, "big.txt", max_bytes=100_000), Document)


def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").mkdir()  # reading a folder fails like an unreadable file
    result = read(tmp_path, "gone.txt")
    assert isinstance(result, Skipped)
    assert "cannot be read" in result.reason
