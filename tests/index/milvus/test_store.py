"""qa.index.milvus.store on Milvus Lite: the same answers as the local store, incremental refresh, crashes, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.models.embedder import Embedder
from qa.errors import IndexError_
from qa.index.indexer import open_store, refresh
from qa.index.milvus.store import MilvusStore
from qa.pipeline import Assistant
from qa.index.store import IndexMismatchError, chunk_key

TINY = Path(__file__).parents[2] / "data" / "tiny"
QUESTIONS = ["Who keeps the lighthouse?", "When is the kite festival?", "What does the bakery sell?",
             "How many steps does the tower have?"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "corpus")
    return tmp_path / "corpus"


def child(code: str) -> subprocess.Popen:
    """A Python process running `code` with this worktree's qa; it prints "ready" once it holds what it must."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def passages(a: Assistant, question: str) -> list[tuple]:
    return [(h.chunk.source, h.chunk.start, h.chunk.end, round(h.score, 4)) for h in a.retrieve(question)]


def test_milvus_retrieves_what_the_local_store_does(corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    local = Assistant(corpus=corpus, index_dir=tmp_path / "index")
    milvus = Assistant(corpus=corpus, index_dir=tmp_path / "unused", store=str(tmp_path / "qa.db"))
    local.embedder = milvus.embedder = embedder
    assert local.index().added == milvus.index().added == sorted(p.relative_to(corpus).as_posix()
                                                                   for p in corpus.rglob("*") if p.is_file())
    for q in QUESTIONS:
        assert passages(milvus, q) == passages(local, q)
    assert milvus.documents() == {s: d for s, d in milvus.documents().items()}
    assert milvus.summary()[:2] == local.summary()[:2]
    for source in local.documents():  # the document view and citations need nothing but Milvus
        assert milvus.document_text(source) == local.document_text(source)
    assert milvus.titles(list(local.documents())) == local.titles(list(local.documents()))
    assert not (tmp_path / "unused").exists()


def test_milvus_asks_within_a_scope_and_each_document_as_the_local_store_does(corpus: Path, tmp_path: Path,
                                                                              embedder: Embedder, reader_model: str) -> None:
    local = Assistant(corpus=corpus, index_dir=tmp_path / "index", reader_model=reader_model, answer_threshold=0.0)
    milvus = Assistant(corpus=corpus, index_dir=tmp_path / "unused", store=str(tmp_path / "qa.db"),
                       reader_model=reader_model, answer_threshold=0.0)
    local.embedder = milvus.embedder = embedder
    for q in QUESTIONS:
        for scope in (["notes"], ["*.md", "lighthouse.txt"]):
            assert [(h.chunk.source, h.chunk.start, round(h.score, 4)) for h in milvus.retrieve(q, sources=scope)] == \
                [(h.chunk.source, h.chunk.start, round(h.score, 4)) for h in local.retrieve(q, sources=scope)]
    mine, theirs = milvus.ask_each(QUESTIONS[0]), local.ask_each(QUESTIONS[0])
    assert [(a.scope, a.text, a.source, round(a.score, 3)) for a in mine] == \
        [(a.scope, a.text, a.source, round(a.score, 3)) for a in theirs]
    assert len(mine) == 3


def test_refresh_redoes_only_the_changed_files(corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    s = Settings.load(corpus=corpus, store=str(tmp_path / "qa.db"))
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    before = store.documents()
    (corpus / "lighthouse.txt").write_text("The lighthouse keeper is now Tom Hale, since 2019.\n", encoding="utf-8")
    (corpus / "notes" / "festival.html").unlink()
    (corpus / "new.md").write_text("# Ferry\n\nThe ferry leaves at nine.\n", encoding="utf-8")
    report = refresh(store, embedder, s)
    assert (report.added, report.updated, report.removed, report.unchanged) == (
        ["new.md"], ["lighthouse.txt"], ["notes/festival.html"], 1)
    after = store.documents()
    assert after["bakery.md"] == before["bakery.md"]  # not rewritten: the same indexed_at
    assert after["lighthouse.txt"].indexed_at > before["lighthouse.txt"].indexed_at
    assert store.document_text("notes/festival.html") is None
    assert store.chunk_count() == sum(d.chunks for d in after.values())
    top = store.search_bm25("keeper Hale", 1)[0][0]
    assert store.chunks([top])[top].source == "lighthouse.txt"
    assert refresh(store, embedder, s).changed is False


def test_a_write_killed_midway_leaves_a_usable_index_that_the_next_refresh_repairs(
        corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    db = tmp_path / "qa.db"
    s = Settings.load(corpus=corpus, store=str(db))
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    store.close()
    (corpus / "lighthouse.txt").write_text("The keeper is now Tom Hale.\n", encoding="utf-8")
    (corpus / "ferry.md").write_text("The ferry leaves at nine.\n", encoding="utf-8")
    # The child dies by SIGKILL in the middle of its write: after the new chunks went in, before the
    # document heads (the commit markers) did.
    proc = child(f"""
        import os, signal
        from qa.config import Settings
        from qa.models.embedder import Embedder
        from qa.index.indexer import open_store, refresh
        s = Settings.load(corpus={str(corpus)!r}, store={str(db)!r})
        e = Embedder()
        store = open_store(s, e)
        insert, calls = store.client.insert, []
        def dying_insert(collection, rows, **kw):
            calls.append(collection)
            if collection == "qa_documents":
                os.kill(os.getpid(), signal.SIGKILL)
            return insert(collection, rows, **kw)
        store.client.insert = dying_insert
        refresh(store, e, s)
    """)
    assert proc.wait(timeout=300) == -9, proc.stderr.read()
    from pymilvus import MilvusClient

    raw = MilvusClient(str(db))
    raw.load_collection("qa_meta")
    raw.load_collection("qa_chunks")
    pending = raw.query("qa_meta", filter='id == "pending"', output_fields=["value"])[0]["value"]
    assert "lighthouse.txt" in pending and "ferry.md" in pending  # it did die mid-write
    orphans = raw.query("qa_chunks", filter='source in ["ferry.md"]', output_fields=["id"])
    assert orphans  # its chunks went in, its head did not
    raw.close()
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(db))  # what closing a MilvusStore does

    store = open_store(s, embedder)
    assert sorted(store.documents()) == ["bakery.md", "notes/festival.html"]  # usable: what was whole
    assert store.chunk_count() == sum(d.chunks for d in store.documents().values())
    assert store.chunks([o["id"] for o in orphans]) == {}
    report = refresh(store, embedder, s)
    assert sorted(report.added) == ["ferry.md", "lighthouse.txt"] and report.unchanged == 2
    assert store.document_text("lighthouse.txt") == "The keeper is now Tom Hale."
    assert store.chunk_count() == sum(d.chunks for d in store.documents().values())


def test_an_unreachable_server_is_a_clear_error_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(IndexError_, match="cannot reach the Milvus server at http://127.0.0.1:9"):
        MilvusStore.open("http://127.0.0.1:9", None)
    assert time.monotonic() - started < 10


def test_the_cli_names_an_unreachable_store(corpus: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-m", "qa.ui.cli", "search", "lighthouse", "--corpus", str(corpus),
                           "--store", "http://127.0.0.1:9"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert "qa: cannot reach the Milvus server at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_second_process_on_a_lite_file_is_told_so(tmp_path: Path, embedder: Embedder) -> None:
    db = tmp_path / "qa.db"
    holder = child(f"""
        from pymilvus import MilvusClient
        c = MilvusClient({str(db)!r})
        print("ready", flush=True)
        input()
    """)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        s = Settings.load(corpus=TINY, store=str(db))
        with pytest.raises(IndexError_, match="open in another process"):
            open_store(s, embedder)
    finally:
        holder.kill()
        holder.wait()


def test_another_embedder_or_chunking_is_refused_with_how_to_rebuild(corpus: Path, tmp_path: Path,
                                                                     embedder: Embedder) -> None:
    db = str(tmp_path / "qa.db")
    first = Assistant(corpus=corpus, store=db)
    first.embedder = embedder
    first.index()
    first.store.close()
    other = Assistant(corpus=corpus, store=db, chunk_words=60, chunk_max_words=80)
    other.embedder = embedder
    with pytest.raises(IndexMismatchError, match=f"rebuild it with `qa index --rebuild --store {db}`") as exc:
        other.index()
    assert "chunk_words: 150 -> 60" in str(exc.value)
    report = other.index(rebuild=True)  # as the message says: dropped and built afresh
    assert len(report.added) == 3
    found = other.store.chunks([k for k, _ in other.store.search_bm25("lighthouse", 1)])
    assert [chunk_key(c.id) for c in found.values()] == list(found) and len(found) == 1
