"""qa.index.derived: after a crash at any write point of a full build or of a refresh, one `qa index` leaves the index
folder as a clean build leaves it (the FAISS file, the manifest, the counts, no temporary files), and the open
after that rewrites and replays nothing. Kills are placed by the test-only hook QA_TEST_KILL_AT (qa.killpoints)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import faiss
import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.models.embedder import Embedder
from qa.index.derived import CHECKSUM
from qa.index.indexer import open_store, refresh
from qa.index.checksum import file_checksum
from qa.killpoints import KILLED, VARIABLE
from qa.index.store import DB_NAME, FAISS_NAME, MANIFEST_NAME

DATA = Path(__file__).parents[1] / "data" / "tiny"
# Every write of a full build of a small corpus, in order: the empty FAISS file and manifest written when the
# index is created, the one commit of the documents, then the FAISS file and manifest written again.
BUILD_POINTS = ["vectors.faiss:written", "vectors.faiss:replaced", "manifest.json:written", "manifest.json:replaced",
                "journal:pruned", "sqlite:writing", "sqlite:committed", "vectors.faiss:written#2",
                "vectors.faiss:replaced#2", "manifest.json:written#2", "manifest.json:replaced#2", "journal:pruned#2"]
# A refresh that removes a file (one commit), then adds and changes others (a second), then saves.
REFRESH_POINTS = ["sqlite:committed", "sqlite:writing#2", "sqlite:committed#2", "vectors.faiss:written",
                  "vectors.faiss:replaced", "manifest.json:written", "manifest.json:replaced", "journal:pruned"]


def change(corpus: Path) -> None:
    """The refresh's changes: one file removed, one changed, one added."""
    (corpus / "bakery.md").unlink()
    (corpus / "lighthouse.txt").write_text("The Old Harbour Lighthouse was pulled down in 2001.", encoding="utf-8")
    (corpus / "ferry.txt").write_text("The Marlow ferry crosses the bay twice a day.", encoding="utf-8")


def build(corpus: Path, index_dir: Path, embedder: Embedder) -> None:
    """What `qa index` does (Assistant.index): open the index, refresh it."""
    s = Settings.load(corpus=corpus, index_dir=index_dir)
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    store.close()


def killed_index(corpus: Path, index_dir: Path, point: str) -> None:
    """Run `qa index` in a process that dies at `point`, and check that it did."""
    env = {**os.environ, VARIABLE: point, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-m", "qa.ui.cli", "index", "--corpus", str(corpus), "--index-dir",
                           str(index_dir)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == KILLED, f"not killed at {point}: {done.returncode} {done.stderr[-500:]}"


def state(index_dir: Path) -> dict:
    """What a build leaves: the files, the FAISS file's vectors by id, the manifest, the database's rows."""
    index = faiss.read_index(str(index_dir / FAISS_NAME))
    ids = faiss.vector_to_array(index.id_map)
    vectors = {int(i): index.index.reconstruct(n).tobytes() for n, i in enumerate(ids)}
    manifest = json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    db = sqlite3.connect(index_dir / DB_NAME)
    try:
        generation = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        rows = {
            "documents": db.execute("SELECT source, content_hash, text, chunks FROM documents ORDER BY source").fetchall(),
            "chunks": db.execute('SELECT id, chunk_id, source, start, "end", vector FROM chunks ORDER BY id').fetchall(),
            "journal": db.execute("SELECT count(*) FROM vector_journal").fetchone()[0],
        }
    finally:
        db.close()
    assert manifest["generation"] == manifest["index_generation"] == generation  # all three say the same
    assert manifest.pop(CHECKSUM) == file_checksum(index_dir / FAISS_NAME)  # the bytes follow the order of adding
    for key in ("generation", "index_generation", "built_at"):  # counts and times differ from run to run
        manifest.pop(key)
    return {"files": sorted(p.name for p in index_dir.iterdir()), "ntotal": index.ntotal, "vectors": vectors,
            "manifest": manifest, **rows}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> dict[str, dict]:
    """The state a clean build leaves, and the state a clean refresh of it leaves after the changes. (The
    refresh embeds only the changed files, in one batch: the same texts embedded in another batch may differ
    in the last bits of their vectors, so a refresh is compared with a refresh.)"""
    root = tmp_path_factory.mktemp("clean")
    shutil.copytree(DATA, root / "corpus")
    build(root / "corpus", root / "before", embedder)
    shutil.copytree(root / "before", root / "after")
    change(root / "corpus")
    build(root / "corpus", root / "after", embedder)
    return {"before": state(root / "before"), "after": state(root / "after")}


def check_repaired(corpus: Path, index_dir: Path, expected: dict, embedder: Embedder,
                   caplog: pytest.LogCaptureFixture) -> None:
    """One `qa index` gives the clean build's folder; the open after it writes and replays nothing."""
    build(corpus, index_dir, embedder)
    assert state(index_dir) == expected
    stamps = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in index_dir.iterdir()}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa"):
        store = open_store(Settings.load(corpus=corpus, index_dir=index_dir), embedder)
        store.close()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("qa.index.store")] == []
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in index_dir.iterdir()} == stamps


@pytest.mark.parametrize("run, point", [("build", p) for p in BUILD_POINTS] + [("refresh", p) for p in REFRESH_POINTS])
def test_a_run_killed_at_each_write_is_repaired_by_the_next_one(run: str, point: str, tmp_path: Path, clean: dict,
                                                                embedder: Embedder,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A full build of a new index, or a refresh of a built one after a removal, a change and an addition."""
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA, corpus)
    if run == "refresh":
        build(corpus, tmp_path / "index", embedder)
        change(corpus)
    killed_index(corpus, tmp_path / "index", point)
    if point.split("#")[0].endswith(":written"):  # the crash left a temporary file
        assert any(p.name.endswith(".tmp") for p in (tmp_path / "index").iterdir())
    check_repaired(corpus, tmp_path / "index", clean["before" if run == "build" else "after"], embedder, caplog)


def test_a_temporary_file_being_written_is_left_alone(tmp_path: Path) -> None:
    """Only a dead writer's temporary file is removed: one whose lock is held is someone's write under way."""
    from qa.atomic import atomic_path, remove_stale_temporaries

    (tmp_path / f".{FAISS_NAME}.dead.tmp").write_bytes(b"half a file")
    with atomic_path(tmp_path / FAISS_NAME) as tmp:
        tmp.write_bytes(b"being written")
        assert remove_stale_temporaries(tmp_path, (FAISS_NAME,)) == [f".{FAISS_NAME}.dead.tmp"]
        assert tmp.exists()
    assert (tmp_path / FAISS_NAME).read_bytes() == b"being written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [FAISS_NAME]


@pytest.mark.parametrize("wanted, code, printed", [(None, 0, "1 2 end"), ("other:point", 0, "1 2 end"),
                                                    ("a:point", KILLED, ""), ("a:point#2", KILLED, "1")])
def test_the_hook_kills_only_at_the_point_it_names(wanted: str | None, code: int, printed: str) -> None:
    script = ("from qa.killpoints import reached\nfor n in (1, 2):\n    reached('a:point')\n    print(n, end=' ', "
              "flush=True)\nprint('end', end='')")
    env = {k: v for k, v in os.environ.items() if k != VARIABLE} | ({VARIABLE: wanted} if wanted else {})
    done = subprocess.run([sys.executable, "-c", script], env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (code, printed)
