"""qa.index.store and qa.index.derived: damage that leaves the files readable is told on open and repaired from
SQLite, saying so; a lost database is named, with what rebuilding costs; an index written before the FAISS file's
checksum was kept is upgraded in place, without embedding anything."""

from __future__ import annotations

import json
import logging
import random
import shutil
import sqlite3
from pathlib import Path

import faiss
import pytest

from tests.conftest import build_tiny
from qa.config import Settings
from qa.index.derived import CHECKSUM
from qa.index.indexer import open_store, refresh
from qa.index.store import DB_NAME, FAISS_NAME, MANIFEST_NAME
from qa.index.checksum import file_checksum
from qa.models.embedder import Embedder

TINY = Path(__file__).parents[1] / "data" / "tiny"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A pristine index of tests/data/tiny; tests copy it before they damage it."""
    root = tmp_path_factory.mktemp("built")
    return build_tiny(root, embedder, index_dir=root / "index")


@pytest.fixture
def index(built: Path, tmp_path: Path) -> Settings:
    shutil.copytree(built, tmp_path / "copy")
    return Settings.load(corpus=tmp_path / "copy" / "corpus", index_dir=tmp_path / "copy" / "index")


def stored_vectors(index_dir: Path) -> dict[int, bytes]:
    with sqlite3.connect(index_dir / DB_NAME) as db:
        return dict(db.execute("SELECT id, vector FROM chunks"))


def faiss_vectors(store) -> dict[int, bytes]:
    index = store.vectors._index
    ids = faiss.vector_to_array(index.id_map)
    return {int(i): index.index.reconstruct(n).tobytes() for n, i in enumerate(ids)}


def opened(s: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa.index.store"):
        return open_store(s, embedder)


def test_the_manifest_records_the_faiss_files_checksum(index: Settings) -> None:
    manifest = json.loads((index.index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest[CHECKSUM] == file_checksum(index.index_dir / FAISS_NAME)


def test_random_bytes_over_the_vectors_are_told_and_repaired_from_sqlite(
        index: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    """The header is left whole, so FAISS reads the file without complaint: only the checksum tells."""
    path = index.index_dir / FAISS_NAME
    data = bytearray(path.read_bytes())
    data[300:1800] = random.Random(0).randbytes(1500)  # inside the first vectors (3 x 384 float32 after the header)
    path.write_bytes(bytes(data))
    assert faiss.read_index(str(path)).ntotal == 3  # readable, and wrong
    store = opened(index, embedder, caplog)
    assert f"{path} does not match the checksum {MANIFEST_NAME} records for it" in caplog.text
    assert "rebuilding it from the vectors stored in index.sqlite; nothing is embedded again" in caplog.text
    assert faiss_vectors(store) == stored_vectors(index.index_dir)
    report = refresh(store, embedder, index)  # `qa index`: the damage is not kept as "unchanged"
    assert report.unchanged == 3 and not report.changed
    store.close()
    assert file_checksum(path) == json.loads((index.index_dir / MANIFEST_NAME).read_text())[CHECKSUM]
    opened(index, embedder, caplog).close()
    assert not caplog.records  # repaired once: the next open is silent


def test_an_index_without_a_checksum_is_upgraded_in_place_without_embedding(
        index: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    manifest_path = index.index_dir / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest[CHECKSUM]  # as every index written before this version
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    rows = stored_vectors(index.index_dir)
    store = opened(index, embedder, caplog)
    assert "upgrading the index at" in caplog.text and "rebuilt once from the vectors stored in index.sqlite" in caplog.text
    assert faiss_vectors(store) == rows == stored_vectors(index.index_dir)  # nothing embedded again
    store.close()
    upgraded = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert upgraded[CHECKSUM] == file_checksum(index.index_dir / FAISS_NAME)
    assert {k: v for k, v in upgraded.items() if k != CHECKSUM} == manifest
    opened(index, embedder, caplog).close()
    assert not caplog.records


@pytest.mark.parametrize("loss", ["deleted", "emptied, manifest deleted"])
def test_a_lost_database_is_named_with_what_rebuilding_costs(index: Settings, embedder: Embedder, loss: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    db = index.index_dir / DB_NAME
    if loss == "deleted":
        db.unlink()
        cost = "gone (deleted), and with it the text and vectors of 3 documents it held"
    else:
        db.write_bytes(b"")
        (index.index_dir / MANIFEST_NAME).unlink()
        cost = f"empty (0 bytes) and {MANIFEST_NAME} is gone, and with it the text and vectors it held"
    store = opened(index, embedder, caplog)
    assert f"the index database {db} is {cost}: the index is rebuilt from the corpus, every document embedded " \
           "again (3 chunks)" in caplog.text
    assert "older" not in caplog.text and "nothing is embedded again" not in caplog.text
    report = refresh(store, embedder, index)
    assert sorted(report.added) == ["bakery.md", "lighthouse.txt", "notes/festival.html"] and report.chunks == 3
    assert len(store.vectors) == 3
    store.close()
    opened(index, embedder, caplog).close()
    assert not caplog.records
