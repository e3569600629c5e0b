"""qa.ingest.bounded: a file is read in a worker process, stopped past its limits on unpacked size, text, CPU time
and memory, with a message naming the file and the limit; indexing and uploads read this way."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from tests.hostile import bomb_docx, text_docx

from qa.ingest.bounded import _WORKER, ParseLimits, parse_bounded
from qa.config import Settings
from qa.ingest.documents import Skipped, source_name
from qa.models.embedder import Embedder
from qa.index.indexer import open_store, refresh
from qa.types import Document

LIMITS = ParseLimits.of(Settings.load())


def read_bounded(corpus: Path, path: Path, limits: ParseLimits):
    """A file of the corpus read within the limits, cited as the indexer cites it."""
    return parse_bounded(source_name(corpus, path), path.suffix.lower(), path, limits)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 440 KB .docx whose XML unpacks to 150 MB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.docx"
    path.write_bytes(bomb_docx())
    return path


def test_a_plain_file_reads_as_in_process(tmp_path: Path) -> None:
    corpus = Path(__file__).parents[1] / "data" / "tiny"
    from qa.ingest.documents import read_document

    for name in ("lighthouse.txt", "bakery.md", "notes/festival.html"):
        assert read_bounded(corpus, corpus / name, LIMITS) == read_document(corpus, corpus / name)


def test_the_zip_bomb_is_refused_at_the_unpacked_limit_naming_it(bomb: Path) -> None:
    result = read_bounded(bomb.parent, bomb, LIMITS)
    assert isinstance(result, Skipped) and result.source == "bomb.docx"
    assert "unpacks to 143 MB, over the limit of 64 MB (QA_MAX_UNPACKED_BYTES)" in result.reason


def test_text_past_the_limit_stops_reading(bomb: Path) -> None:
    """Under the unpacked limit, the bomb's 63 M characters stop at the text limit, as they are read."""
    result = read_bounded(bomb.parent, bomb, replace(LIMITS, max_unpacked_bytes=200 * 2**20, max_text_chars=10**6))
    assert isinstance(result, Skipped)
    assert result.reason == "holds over 1,000,000 characters of text, the limit (QA_MAX_TEXT_CHARS)"


def test_a_file_past_the_cpu_limit_is_stopped_and_the_next_file_is_read(tmp_path: Path) -> None:
    # Every line holds mojibake, which ftfy repairs a line at a time: about 15 s of CPU here.
    (tmp_path / "slow.txt").write_text("caf\u00c3\u00a9 \u00e2\u20ac\u0153au lait\u00e2\u20ac\n" * 300_000,
                                       encoding="utf-8")
    started = _WORKER.started
    result = read_bounded(tmp_path, tmp_path / "slow.txt", replace(LIMITS, cpu_seconds=1))
    assert isinstance(result, Skipped) and result.source == "slow.txt"
    assert result.reason.startswith("took over 1 s of CPU time to read, the limit (QA_PARSE_CPU_SECONDS)")
    (tmp_path / "fine.txt").write_text("The ferry leaves at noon.", encoding="utf-8")
    assert read_bounded(tmp_path, tmp_path / "fine.txt", LIMITS).text == "The ferry leaves at noon."
    assert _WORKER.started == started + 1  # a new worker took over


def test_a_file_past_the_memory_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.docx").write_bytes(text_docx([f"Paragraph {i} of a long report." for i in range(300_000)]))
    result = read_bounded(tmp_path, tmp_path / "big.docx", replace(LIMITS, memory_bytes=20 * 2**20))
    assert isinstance(result, Skipped)
    assert result.reason.startswith("needs over 20 MB of memory to read, the limit (QA_PARSE_MEMORY_BYTES)")
    assert isinstance(read_bounded(tmp_path, tmp_path / "big.docx", LIMITS), Document)


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 1000, encoding="utf-8")
    result = read_bounded(tmp_path, tmp_path / "big.txt", replace(LIMITS, max_file_bytes=1000))
    assert result == Skipped("big.txt", "is larger than the limit of 1,000 bytes (QA_MAX_FILE_BYTES)")


def test_indexing_skips_the_bomb_with_its_reason(tiny_corpus: Path, tmp_path: Path, bomb: Path,
                                                 embedder: Embedder) -> None:
    shutil.copy(bomb, tiny_corpus / "bomb.docx")
    s = Settings.load(corpus=tiny_corpus, index_dir=tmp_path / "index")
    store = open_store(s, embedder)
    report = refresh(store, embedder, s)
    assert sorted(report.added) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    assert [(k.source, "QA_MAX_UNPACKED_BYTES" in k.reason) for k in report.skipped] == [("bomb.docx", True)]
    store.close()


def test_an_upload_is_read_once(tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    """The upload check's reading is the one indexed: the worker reads the file once."""
    from qa.pipeline import Assistant

    assistant = Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model)
    assistant.index()
    received = tmp_path / "received.txt"
    received.write_text("The Marlow ferry crosses the bay twice a day.", encoding="utf-8")
    reads = _WORKER.reads
    doc = assistant.read_upload("ferry.txt", received)
    assert isinstance(doc, Document) and doc.source == "ferry.txt"
    shutil.copy(received, tiny_corpus / "ferry.txt")
    report = assistant.index()
    assert report.added == ["ferry.txt"] and _WORKER.reads == reads + 1
    assert assistant.document_text("ferry.txt") == doc.text
    assert isinstance(parse_bounded("x.txt", ".txt", tmp_path / "missing.txt", LIMITS), Skipped)
