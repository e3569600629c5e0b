"""qa.index.indexer: builds and refreshes the store; only added, changed or removed files are redone."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.ingest.chunking import chunk_document
from qa.config import Settings
from qa.ingest.documents import read_document, signature
from qa.models.embedder import Embedder
from qa.errors import CorpusError, IndexError_
from qa.index.indexer import RACY_SECONDS, open_store, refresh
from qa.index.store import DB_NAME, OtherCorpusError, Store

TINY = ["bakery.md", "lighthouse.txt", "notes/festival.html"]


def setup_index(corpus: Path, index_dir: Path, embedder: Embedder, **settings) -> tuple[Settings, Store]:
    s = Settings.load(corpus=corpus, index_dir=index_dir, **settings)
    return s, open_store(s, embedder)


def build_index(corpus: Path, index_dir: Path, embedder: Embedder) -> Settings:
    """Index the corpus and close the index; its settings."""
    s, store = setup_index(corpus, index_dir, embedder)
    refresh(store, embedder, s)
    store.close()
    return s


def expected_chunks(corpus: Path, source: str, s: Settings) -> int:
    doc = read_document(corpus, corpus / source)
    return len(chunk_document(doc, s.chunk_words, s.chunk_max_words, s.chunk_overlap_words))


def chunk_rows(store: Store) -> list[tuple[str, str, int, int]]:
    """(chunk_id, source, start, end) of every chunk row, read straight from SQLite."""
    db = sqlite3.connect(store.index_dir / DB_NAME)
    try:
        return db.execute('SELECT chunk_id, source, start, "end" FROM chunks ORDER BY id').fetchall()
    finally:
        db.close()


def assert_consistent(store: Store) -> None:
    rows = chunk_rows(store)
    assert len(rows) == len(set(rows)) == store.chunk_count() == len(store.vectors)
    per_source = {}
    for _, source, _, _ in rows:
        per_source[source] = per_source.get(source, 0) + 1
    assert per_source == {s: d.chunks for s, d in store.documents().items() if d.chunks}


def test_build_then_refresh_add_change_delete(tiny_corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)

    report = refresh(store, embedder, s)
    assert sorted(report.added) == TINY and not report.updated and not report.removed
    assert report.chunks == sum(expected_chunks(tiny_corpus, src, s) for src in TINY)
    assert_consistent(store)
    first = store.documents()

    # Nothing changed: nothing is embedded again.
    report = refresh(store, embedder, s)
    assert (report.added, report.updated, report.removed, report.unchanged) == ([], [], [], 3)
    assert not report.changed
    assert store.documents() == first

    # Add a file: only it is embedded.
    (tiny_corpus / "ferry.txt").write_text(
        "The Marlow ferry crosses the bay twice a day. It carries forty passengers.", encoding="utf-8")
    report = refresh(store, embedder, s)
    assert report.added == ["ferry.txt"] and not report.updated and not report.removed
    assert report.unchanged == 3
    assert report.chunks == first_total(first) + expected_chunks(tiny_corpus, "ferry.txt", s)
    docs = store.documents()
    assert all(docs[src] == first[src] for src in TINY)  # untouched: same hash, chunks and time
    assert_consistent(store)

    # Change a file: only it is embedded again, and its old chunks are gone.
    (tiny_corpus / "lighthouse.txt").write_text(
        "The Old Harbour Lighthouse was demolished in 2001. A museum now stands on Gull Point.", encoding="utf-8")
    before = store.documents()
    report = refresh(store, embedder, s)
    assert report.updated == ["lighthouse.txt"] and not report.added and not report.removed
    assert report.unchanged == 3
    after = store.documents()
    assert after["lighthouse.txt"].content_hash != before["lighthouse.txt"].content_hash
    assert all(after[src] == before[src] for src in ("bakery.md", "notes/festival.html", "ferry.txt"))
    assert_consistent(store)
    assert "demolished" in store.document_text("lighthouse.txt")
    assert not store.search_bm25("Margaret Doyle keeper", 10)
    hits = store.chunks([key for key, _ in store.search_bm25("demolished museum", 10)])
    assert {c.source for c in hits.values()} == {"lighthouse.txt"}

    # Delete a file: its rows, keywords and vectors go.
    (tiny_corpus / "bakery.md").unlink()
    report = refresh(store, embedder, s)
    assert report.removed == ["bakery.md"] and not report.added and not report.updated
    assert "bakery.md" not in store.documents()
    assert not store.search_bm25("Rosen rye bread", 10)
    query = embedder.embed(["Who founded Rosen's Bakery?"])
    found = store.chunks([key for key, _ in store.search_dense(query, 10)[0]])
    assert "bakery.md" not in {c.source for c in found.values()}
    assert_consistent(store)
    store.close()

    # Reopened, the index holds the same state.
    _, again = setup_index(tiny_corpus, tmp_path / "index", embedder)
    assert sorted(again.documents()) == ["ferry.txt", "lighthouse.txt", "notes/festival.html"]
    assert_consistent(again)
    assert not refresh(again, embedder, s).changed
    again.close()


def first_total(docs) -> int:
    return sum(d.chunks for d in docs.values())


def test_a_settled_file_is_read_again_only_when_its_signature_moves(tiny_corpus: Path, tmp_path: Path,
                                                                     embedder: Embedder) -> None:
    """A file is read again when its size, mtime or ctime moved, or was too recent to trust; a same-size
    edit that puts the old mtime back (`cp -p`, `touch -r`, rsync -t) still moves its ctime."""
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    path = tiny_corpus / "lighthouse.txt"
    time.sleep(RACY_SECONDS + 0.1)  # every file settled
    refresh(store, embedder, s)
    assert store.file_stat("lighthouse.txt") == signature(os.stat(path))  # a stat now tells it is unchanged
    assert refresh(store, embedder, s).unchanged == 3
    text = path.read_text(encoding="utf-8")
    same_size = text.replace("lighthouse", "LIGHTHOUSE")
    assert same_size != text and len(same_size) == len(text)

    old = os.stat(path).st_mtime_ns
    path.write_text(same_size, encoding="utf-8")
    os.utime(path, ns=(old, old))  # the same size and mtime as before the edit
    assert refresh(store, embedder, s).updated == ["lighthouse.txt"]
    assert "LIGHTHOUSE" in store.document_text("lighthouse.txt")

    # Just written: its signature is not trusted, so a same-size change in the same tick is seen.
    path.write_text(text, encoding="utf-8")
    assert refresh(store, embedder, s).updated == ["lighthouse.txt"]
    assert store.file_stat("lighthouse.txt") is None
    path.write_text(same_size, encoding="utf-8")
    assert refresh(store, embedder, s).updated == ["lighthouse.txt"]
    assert "LIGHTHOUSE" in store.document_text("lighthouse.txt")
    store.close()


def test_reindexing_never_duplicates_chunks(tiny_corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    total = refresh(store, embedder, s).chunks
    rows = chunk_rows(store)
    # Touch every file (same bytes, new times) and rebuild: the same chunks, once each.
    for src in TINY:
        path = tiny_corpus / src
        path.write_bytes(path.read_bytes())
    assert not refresh(store, embedder, s).changed
    report = refresh(store, embedder, s, rebuild=True)
    assert sorted(report.added) == TINY and report.chunks == total
    assert sorted(chunk_rows(store)) == sorted(rows)
    assert_consistent(store)
    store.close()


def test_unusable_files_are_skipped_with_warnings_naming_them(tiny_corpus: Path, tmp_path: Path,
                                                             embedder: Embedder,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    (tiny_corpus / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (tiny_corpus / "greek.txt").write_bytes("\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5.".encode("iso-8859-7"))
    (tiny_corpus / "empty.md").write_bytes(b"")
    (tiny_corpus / "huge.txt").write_text("Words and more words. " * 200, encoding="utf-8")
    (tiny_corpus / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder, max_file_bytes=2000)
    with caplog.at_level(logging.WARNING):
        report = refresh(store, embedder, s)
    assert sorted(report.added) == TINY
    skipped = {k.source: k.reason for k in report.skipped}
    assert sorted(skipped) == ["broken.pdf", "empty.md", "greek.txt", "huge.txt", "photo.txt"]
    assert "binary" in skipped["photo.txt"] and "UTF-8" in skipped["greek.txt"]
    assert "no text" in skipped["empty.md"] and "limit" in skipped["huge.txt"] and "PDF" in skipped["broken.pdf"]
    for name in skipped:
        assert name in caplog.text
    assert_consistent(store)
    store.close()


def test_a_file_that_becomes_unreadable_leaves_the_index(tiny_corpus: Path, tmp_path: Path,
                                                         embedder: Embedder) -> None:
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    refresh(store, embedder, s)
    (tiny_corpus / "bakery.md").write_bytes(b"")
    report = refresh(store, embedder, s)
    assert report.removed == ["bakery.md"]
    assert [k.source for k in report.skipped] == ["bakery.md"]
    assert "bakery.md" not in store.documents()
    assert_consistent(store)
    store.close()


def test_linked_duplicates_and_links_out_of_the_corpus(tiny_corpus: Path, tmp_path: Path,
                                                       embedder: Embedder) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("A private note outside the corpus.", encoding="utf-8")
    os.symlink(outside, tiny_corpus / "private.txt")
    os.symlink("lighthouse.txt", tiny_corpus / "beacon.txt")
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    report = refresh(store, embedder, s)
    assert sorted(store.documents()) == TINY
    assert not store.search_bm25("private note", 5)
    assert report.chunks == store.chunk_count()
    assert_consistent(store)
    store.close()


def test_corpus_of_only_unusable_files_gives_an_empty_index(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(b"\x00\x01\x02\x03" * 50)
    (corpus / "b.md").write_bytes(b"")
    s, store = setup_index(corpus, tmp_path / "index", embedder)
    report = refresh(store, embedder, s)
    assert report.chunks == 0 and not report.added
    assert sorted(k.source for k in report.skipped) == ["a.txt", "b.md"]
    store.close()


def test_missing_corpus_is_a_corpus_error(tmp_path: Path, embedder: Embedder) -> None:
    s, store = setup_index(tmp_path / "nowhere", tmp_path / "index", embedder)
    with pytest.raises(CorpusError, match="nowhere.* does not exist"):
        refresh(store, embedder, s)
    (tmp_path / "notes.txt").write_text("A file, not a folder.", encoding="utf-8")
    with pytest.raises(CorpusError, match="notes.txt is a file, not a folder"):
        refresh(store, embedder, s.replace(corpus=tmp_path / "notes.txt"))
    store.close()


def ferry_corpus(tmp_path: Path) -> Path:
    """Another corpus folder, of one file."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "ferry.txt").write_text("The Marlow ferry crosses the bay twice a day.", encoding="utf-8")
    return other


def test_an_index_refuses_another_corpus_and_is_left_as_it_was(tiny_corpus: Path, tmp_path: Path,
                                                                embedder: Embedder) -> None:
    """A forgotten --corpus must not replace an index's documents with another folder's."""
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    refresh(store, embedder, s)
    before = store.documents()
    other = ferry_corpus(tmp_path)
    with pytest.raises(IndexError_) as info:
        refresh(store, embedder, s.replace(corpus=other))
    message = str(info.value)
    assert str(tiny_corpus) in message and str(other) in message and "--rebuild" in message
    assert store.documents() == before and store.corpus() == tiny_corpus
    # A rebuild, as the message says, makes it the other folder's index.
    report = refresh(store, embedder, s.replace(corpus=other), rebuild=True)
    assert report.added == ["ferry.txt"] and sorted(store.documents()) == ["ferry.txt"]
    assert store.corpus() == other
    store.close()


def test_other_settings_do_not_rebuild_another_folders_index(tiny_corpus: Path, tmp_path: Path,
                                                              embedder: Embedder) -> None:
    from qa.pipeline import Assistant

    build_index(tiny_corpus, tmp_path / "index", embedder)
    other = ferry_corpus(tmp_path)
    chunking = {"chunk_words": 40, "chunk_max_words": 60, "chunk_overlap_words": 10}
    with pytest.raises(OtherCorpusError, match="--rebuild"):
        open_store(Settings.load(corpus=other, index_dir=tmp_path / "index", **chunking), embedder)
    _, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    assert sorted(store.documents()) == TINY
    store.close()
    assistant = Assistant(other, tmp_path / "index", **chunking)
    assert assistant.index(rebuild=True).added == ["ferry.txt"]
    assistant.store.close()


def test_an_index_moved_with_its_corpus_still_serves_it(tiny_corpus: Path, tmp_path: Path,
                                                        embedder: Embedder) -> None:
    build_index(tiny_corpus, tmp_path / "index", embedder)
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(tiny_corpus, moved / "corpus")
    shutil.move(tmp_path / "index", moved / "index")
    s, store = setup_index(moved / "corpus", moved / "index", embedder)
    report = refresh(store, embedder, s)
    assert not report.changed and report.unchanged == 3
    store.close()


def test_an_emptied_corpus_folder_leaves_the_index_as_it_was(tiny_corpus: Path, tmp_path: Path,
                                                             embedder: Embedder) -> None:
    """An unmounted or emptied folder says so; emptying the index takes a rebuild."""
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    refresh(store, embedder, s)
    before = store.documents()
    shutil.rmtree(tiny_corpus)
    tiny_corpus.mkdir()
    with pytest.raises(CorpusError, match=r"holds no documents, but its index holds 3.*--rebuild"):
        refresh(store, embedder, s)
    assert store.documents() == before
    assert refresh(store, embedder, s, rebuild=True).chunks == 0
    store.close()


READ_ONLY_CHECK = """
import sys
from qa.errors import IndexError_
from qa.pipeline import Assistant
a = Assistant(sys.argv[1], sys.argv[2])
try:
    hits = a.retrieve("Who was the last keeper of the lighthouse?")
except IndexError_ as exc:
    print("error:", exc)
else:
    print("found:", hits[0].chunk.source)
"""


def as_unprivileged(argv: list[str]) -> list[str]:
    """The command without the root privilege of writing where permissions forbid it."""
    if os.geteuid() != 0:
        return argv
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *argv]


def test_a_read_only_index_serves_while_current_and_says_why_it_cannot_follow_a_change(
        tiny_corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    index_dir = tmp_path / "index"
    build_index(tiny_corpus, index_dir, embedder)
    files = [index_dir, *index_dir.iterdir()]
    for path in files:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = {p.name: p.read_bytes() for p in index_dir.iterdir()}
    run = as_unprivileged([sys.executable, "-c", READ_ONLY_CHECK, str(tiny_corpus), str(index_dir)])
    try:
        current = subprocess.run(run, capture_output=True, text=True, timeout=300)
        assert current.stdout.strip() == "found: lighthouse.txt", current.stderr
        (tiny_corpus / "ferry.txt").write_text("The Marlow ferry crosses the bay twice a day.", encoding="utf-8")
        changed = subprocess.run(run, capture_output=True, text=True, timeout=300)
        assert changed.stdout.startswith("error: cannot write the index at"), changed.stderr
        assert "make it writable" in changed.stdout
    finally:
        for path in files:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir()} == before


REFRESH = """
import sys
from qa.config import Settings
from qa.models.embedder import Embedder
from qa.index.indexer import open_store, refresh
s = Settings.load(corpus=sys.argv[1], index_dir=sys.argv[2])
embedder = Embedder()
report = refresh(open_store(s, embedder), embedder, s)
print("removed:", report.removed, "skipped:", [k.source for k in report.skipped])
"""


def test_documents_in_a_folder_that_cannot_be_listed_stay_until_it_can(tiny_corpus: Path, tmp_path: Path,
                                                                        embedder: Embedder) -> None:
    s = build_index(tiny_corpus, tmp_path / "index", embedder)
    notes = tiny_corpus / "notes"
    notes.chmod(0)
    try:
        run = subprocess.run(as_unprivileged([sys.executable, "-c", REFRESH, str(tiny_corpus), str(s.index_dir)]),
                             capture_output=True, text=True, timeout=300)
    finally:
        notes.chmod(0o755)
    assert run.stdout.strip() == "removed: [] skipped: ['notes/']", run.stderr
    assert "skipping notes/: it cannot be read" in run.stderr
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    assert sorted(store.documents()) == TINY
    store.close()


def test_progress_reports_each_file(tiny_corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    calls = []
    refresh(store, embedder, s, progress=lambda done, total, current: calls.append((done, total, current)))
    assert calls[0] == (0, 3, "bakery.md")
    assert calls[-1] == (3, 3, "")
    assert [c[2] for c in calls[:-1]] == TINY
    store.close()


def test_batches_commit_separately(tiny_corpus: Path, tmp_path: Path, embedder: Embedder,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.index.indexer

    monkeypatch.setattr(qa.index.indexer, "BATCH_CHUNKS", 1)  # one commit per document
    s, store = setup_index(tiny_corpus, tmp_path / "index", embedder)
    report = refresh(store, embedder, s)
    assert sorted(report.added) == TINY
    assert store.generation() >= 3
    assert_consistent(store)
    store.close()
