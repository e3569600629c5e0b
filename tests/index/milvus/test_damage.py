"""qa.index.milvus.integrity: damage to a Milvus Lite index is told on open and named; collections that disagree are
repaired by embedding their documents again, a data file whose bytes changed is refused with how to rebuild, and a
build prints no gRPC tracebacks."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import build_tiny
from qa.config import PROJECT_ROOT, Settings
from qa.index.indexer import open_store, refresh
from qa.index.milvus.integrity import CHECKSUMS
from qa.index.store import IndexDamagedError
from qa.models.embedder import Embedder
from qa.pipeline import Assistant

TINY = Path(__file__).parents[2] / "data" / "tiny"
SOURCES = ["bakery.md", "lighthouse.txt", "notes/festival.html"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A Milvus Lite index of the tiny corpus, built as `qa index --store` builds it; tests copy it."""
    root = tmp_path_factory.mktemp("milvus-built")
    return build_tiny(root, embedder, store=str(root / "qa.db"))


@pytest.fixture
def index(built: Path, tmp_path: Path) -> Settings:
    """A private copy at the same corpus path (the index records its folder's absolute path)."""
    db = tmp_path / "qa.db"
    shutil.copytree(built / "qa.db", db)
    return Settings.load(corpus=built / "corpus", store=str(db))


def opened(s: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa"):
        return open_store(s, embedder)


def test_a_damaged_collection_manifest_is_told_and_its_documents_embedded_again(
        index: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    """Milvus Lite then loads qa_chunks empty: `qa ask` said "no readable documents", `qa index` "3 unchanged"."""
    (Path(index.store) / "collections" / "qa_chunks" / "manifest.json").write_text("{not json", encoding="utf-8")
    store = opened(index, embedder, caplog)
    assert (f"the Milvus Lite index at {index.store} is damaged: its collections disagree (qa_chunks holds 0 chunks, "
            "where qa_documents lists 3 for 3 documents). The 3 documents whose chunks and head disagree are dropped, "
            "and embedded again by the next refresh (3 chunks)") in caplog.text
    report = refresh(store, embedder, index)
    assert sorted(report.added) == SOURCES and report.chunks == 3 == store.chunk_count()
    assert store.chunks([k for k, _ in store.search_bm25("lighthouse keeper", 1)])
    store.close()
    opened(index, embedder, caplog).close()
    assert "damaged" not in caplog.text


def test_a_lost_documents_collection_is_named_and_its_documents_embedded_again(
        index: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import MilvusClient

    raw = MilvusClient(index.store)
    raw.drop_collection("qa_documents")
    raw.close()
    server_manager_instance.release_server(index.store)
    store = opened(index, embedder, caplog)
    assert f"the Milvus Lite index at {index.store} had lost its qa_documents collection (deleted?)" in caplog.text
    assert "(qa_chunks holds 3 chunks, where qa_documents lists 0 for 0 documents)" in caplog.text
    assert "embedded again by the next refresh (3 chunks)" in caplog.text
    report = refresh(store, embedder, index)
    assert sorted(report.added) == SOURCES and store.chunk_count() == 3
    assert "Margaret Doyle" in store.document_text("lighthouse.txt")
    store.close()


def silently_damage_vectors(path: Path) -> None:
    """Four random bytes inside the vectors' compressed page of a Parquet file, where the file still reads and a
    vector comes out wrong (as the issue found: "loads silently, with 3 of 398 vectors wrong")."""
    meta = pq.ParquetFile(path).metadata.row_group(0)
    vectors = next(c for c in map(meta.column, range(meta.num_columns)) if c.path_in_schema.startswith("vector"))
    clean = path.read_bytes()
    for at in range(vectors.data_page_offset + 64, vectors.data_page_offset + vectors.total_compressed_size, 61):
        data = bytearray(clean)
        data[at:at + 4] = random.Random(at).randbytes(4)
        path.write_bytes(bytes(data))
        try:
            read = pq.read_table(path, columns=["vector"]).column("vector").to_pylist()
        except OSError:  # the compressed stream broke: Milvus Lite would say so
            continue
        if any(abs(np.linalg.norm(v) - 1) > 1e-3 for v in read):
            return
    pytest.fail("no place in the vectors' page reads back wrong without an error")


@pytest.mark.parametrize("kind", ["data", "index"])
def test_random_bytes_in_a_chunks_file_are_told_with_how_to_rebuild(index: Settings, embedder: Embedder,
                                                                   kind: str) -> None:
    """Milvus Lite loaded such a file without a word: wrong vectors (data), or wrong search scores (index)."""
    folder = Path(index.store) / "collections" / "qa_chunks" / "partitions"
    path = next(folder.rglob("*.parquet" if kind == "data" else "*.idx"))
    data = bytearray(path.read_bytes())
    if kind == "data":
        silently_damage_vectors(path)
    else:  # the FLAT index's copy of the vectors: search scores go wrong
        data[len(data) // 2:len(data) // 2 + 16] = random.Random(0).randbytes(16)
        path.write_bytes(bytes(data))
    with pytest.raises(IndexDamagedError) as info:
        open_store(index, embedder)
    name = path.relative_to(index.store).as_posix()
    assert str(info.value) == (
        f"the Milvus Lite index at {index.store} is damaged: {name} changed since qa wrote it, so the rows it holds "
        f"cannot be trusted. Rebuild the index with `qa index --rebuild --store {index.store}` (every document is "
        "embedded again: 3 chunks).")
    assistant = Assistant(index.corpus, store=index.store)
    assistant.embedder = embedder
    report = assistant.index(rebuild=True)  # as the message says
    assert sorted(report.added) == SOURCES
    assert assistant.store.chunk_count() == 3
    assistant.store.close()


def test_an_index_without_checksums_is_checked_from_its_next_open(index: Settings, embedder: Embedder,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    (Path(index.store) / CHECKSUMS).unlink()  # as an index of an older version
    opened(index, embedder, caplog).close()
    assert "damaged" not in caplog.text
    recorded = json.loads((Path(index.store) / CHECKSUMS).read_text(encoding="utf-8"))
    assert recorded["chunks"] == 3 and any("qa_chunks" in name for name in recorded["files"])


def test_a_build_prints_no_grpc_tracebacks(tmp_path: Path) -> None:
    """Milvus Lite's server logged one for each paged read (pymilvus asks it for a timestamp it does not give)."""
    shutil.copytree(TINY, tmp_path / "corpus")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-m", "qa.ui.cli", "index", "--corpus", str(tmp_path / "corpus"),
                           "--store", str(tmp_path / "qa.db")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 added" in done.stdout
    assert "Traceback" not in done.stderr and "Method not implemented" not in done.stderr, done.stderr[-2000:]
