"""qa.index.ray_indexer: indexing on a local Ray gives the local indexer's chunks and vectors, incrementally."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa.ui.cli import parser
from qa.config import Settings
from qa.models.embedder import Embedder
from qa.index.indexer import open_store, refresh
from qa.index.ray_indexer import index_with_ray
from qa.index.store import DB_NAME

TINY = Path(__file__).parents[1] / "data" / "tiny"


@pytest.fixture(scope="module")
def ray_session():
    """One small local Ray for the module (it takes seconds and a few hundred MB to start)."""
    import ray

    yield
    ray.shutdown()


def local_chunks(index_dir: Path) -> dict[int, tuple]:
    with sqlite3.connect(index_dir / DB_NAME) as db:
        rows = db.execute('SELECT c.id, c.chunk_id, c.source, c.start, c."end", f.text, c.vector FROM chunks c '
                          "JOIN chunks_fts f ON f.rowid = c.id").fetchall()
    return {r[0]: (r[1:6], np.frombuffer(r[6], dtype=np.float32)) for r in rows}


def milvus_chunks(store) -> dict[int, tuple]:
    rows = store.client.query("qa_chunks", filter="id >= 0",
                              output_fields=["chunk_id", "source", "start_char", "end_char", "text", "vector"])
    return {r["id"]: ((r["chunk_id"], r["source"], r["start_char"], r["end_char"], r["text"]),
                      np.asarray(r["vector"], dtype=np.float32)) for r in rows}


def test_ray_gives_the_local_indexers_chunks_and_vectors(ray_session, tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY, corpus)
    local = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    store = open_store(local, embedder)
    refresh(store, embedder, local)
    store.close()

    s = Settings.load(corpus=corpus, store=str(tmp_path / "qa.db"))
    store = open_store(s, embedder)
    report = index_with_ray(store, s, workers=1)
    assert report.added == ["bakery.md", "lighthouse.txt", "notes/festival.html"] and report.chunks == 3
    want, got = local_chunks(tmp_path / "index"), milvus_chunks(store)
    assert sorted(got) == sorted(want)
    for key, (fields, vector) in want.items():
        assert got[key][0] == fields  # ids, sources, offsets and text
        np.testing.assert_allclose(got[key][1], vector, atol=1e-5)
    assert store.document_text("lighthouse.txt") is not None

    (corpus / "lighthouse.txt").write_text("The keeper is now Tom Hale. He rings the bell at noon.\n",
                                           encoding="utf-8")
    (corpus / "bakery.md").unlink()
    again = index_with_ray(store, s, workers=1)
    assert (again.added, again.updated, again.removed, again.unchanged) == ([], ["lighthouse.txt"], ["bakery.md"], 1)
    assert store.document_text("lighthouse.txt") == "The keeper is now Tom Hale. He rings the bell at noon."
    assert sorted(store.documents()) == ["lighthouse.txt", "notes/festival.html"]
    assert index_with_ray(store, s, workers=1).changed is False
    store.close()


def skipped(report) -> list[tuple[str, str]]:
    return sorted((s.source, s.reason) for s in report.skipped)


def test_ray_skips_bad_files_within_the_configured_limits_as_the_local_indexer_does(
        ray_session, tmp_path: Path, embedder: Embedder) -> None:
    """Ray reads through the bounded worker with the settings' limits, so a bad file is skipped with the same
    reason as locally; the text limit is lowered here, which reading the file directly would not obey."""
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY, corpus)
    (corpus / "blob.txt").write_bytes(bytes(range(256)) * 8)  # binary
    (corpus / "big.txt").write_text("The harbour is deep. " * 300, encoding="utf-8")  # 6,300 bytes
    (corpus / "long.md").write_text("The tide turns twice a day. " * 110, encoding="utf-8")  # 3,080 characters
    limits = {"max_file_bytes": 4096, "max_text_chars": 2000}
    local = Settings.load(corpus=corpus, index_dir=tmp_path / "index", **limits)
    store = open_store(local, embedder)
    want = refresh(store, embedder, local)
    store.close()
    assert [s for s, _ in skipped(want)] == ["big.txt", "blob.txt", "long.md"]

    s = Settings.load(corpus=corpus, store=str(tmp_path / "qa.db"), **limits)
    store = open_store(s, embedder)
    got = index_with_ray(store, s, workers=1)
    assert skipped(got) == skipped(want)
    assert "QA_MAX_TEXT_CHARS" in dict(skipped(got))["long.md"]
    assert (got.added, got.chunks) == (want.added, want.chunks)
    assert sorted(store.documents()) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    store.close()


def test_every_command_takes_a_store_and_index_takes_ray() -> None:
    for argv in (["index"], ["ask", "q"], ["search", "q"], ["eval", "f.jsonl"], ["serve"]):
        assert parser().parse_args([*argv, "--store", "qa.db"]).store == "qa.db"
    assert parser().parse_args(["index", "--ray"]).ray == ""
    assert parser().parse_args(["index", "--ray", "ray://head:10001"]).ray == "ray://head:10001"
    assert parser().parse_args(["index"]).ray is None
    with pytest.raises(SystemExit):
        parser().parse_args(["search", "q", "--ray"])
