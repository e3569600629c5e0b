"""qa.ingest.documents: finding files, reading each into a Document, and skipping what cannot be read."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import deep_folder

from qa.ingest.documents import TITLE_MAX_CHARS, Skipped, document_title, file_hash, find_files, read_document
from qa.errors import CorpusError
from qa.types import Document


def read(corpus: Path, name: str, **kw) -> Document | Skipped:
    return read_document(corpus, corpus / name, **kw)


# ---- finding files -------------------------------------------------------------------------------


def test_find_files_recurses_sorted_and_names_sources_relative(tiny_corpus: Path) -> None:
    (tiny_corpus / "notes" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # unsupported suffix
    found = find_files(tiny_corpus)
    assert [f.source for f in found] == ["bakery.md", "lighthouse.txt", "notes/festival.html"]


def test_hidden_files_folders_and_office_locks_are_skipped(tiny_corpus: Path) -> None:
    (tiny_corpus / ".draft.txt").write_text("A hidden draft.", encoding="utf-8")
    (tiny_corpus / "~$minutes.docx").write_bytes(b"\x05Ann Lee" + b"\x00" * 154)  # Word's lock beside an open file
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
    with caplog.at_level(logging.WARNING, logger="qa.ingest.documents"):
        sources = [f.source for f in find_files(tiny_corpus)]
    assert sources == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    assert "secret.txt" in caplog.text


def test_a_link_to_a_file_inside_the_corpus_is_one_document(tiny_corpus: Path) -> None:
    os.symlink("lighthouse.txt", tiny_corpus / "beacon.txt")
    sources = [f.source for f in find_files(tiny_corpus)]
    assert sorted(sources) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]


def _locked_folder(corpus: Path) -> str:
    """A folder of mode 000, as a user reported; root lists it all the same, so the test is skipped for root."""
    folder = corpus / "private"
    folder.mkdir()
    (folder / "vault.txt").write_text("The vault code is 7781.", encoding="utf-8")
    folder.chmod(0)
    try:
        os.listdir(folder)
    except PermissionError:
        return folder.name
    folder.chmod(0o755)
    pytest.skip("this user (root) lists a folder of mode 000 all the same; deep_folder tests the same for root")


@pytest.mark.parametrize("make", [deep_folder, _locked_folder])
def test_a_folder_that_cannot_be_listed_is_skipped_with_a_warning(tiny_corpus: Path, make: Callable[[Path], str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    folder = make(tiny_corpus)
    try:
        with caplog.at_level(logging.WARNING, logger="qa.ingest.documents"):
            sources = [f.source for f in find_files(tiny_corpus)]
    finally:
        (tiny_corpus / folder).chmod(0o755)  # so that the test's folder can be removed
    assert sources == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    assert re.search(f"skipping {folder}/.*cannot be read", caplog.text), caplog.text


def test_a_corpus_folder_that_cannot_be_listed_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("A file, not a folder.", encoding="utf-8")
    with pytest.raises(CorpusError, match="cannot be read"):
        find_files(tmp_path / "corpus.txt")


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
    ("fake.docx", b"PK\x03\x04 this is not a Word file", "Word document"),
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


@pytest.mark.parametrize(("text", "title"), [
    ("The Old Harbour Lighthouse\n\nThe Old Harbour Lighthouse stands on Gull Point.", "The Old Harbour Lighthouse"),
    ("# CS visits Shanghai (with photos)\n\nThe Chief Secretary ...", "CS visits Shanghai (with photos)"),
    ("\n  Message from Director\nIn 2021, ...", "Message from Director"),
    ("On October 28, Chongqing hosted a conference.\n\nMore.", None),  # a sentence, not a heading
    ("Contents:\n1. Intro", None),
    ("A" * (TITLE_MAX_CHARS + 1) + "\nrest", None),  # a first paragraph, not a heading
    ("", None), ("###\n", None),
])
def test_a_title_is_a_first_line_that_reads_as_a_heading(text: str, title: str | None) -> None:
    assert document_title(text) == title
