"""qa.index.ray_indexer: indexing on a local Ray gives the local indexer's chunks and vectors, incrementally."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.index.test_indexer import as_unprivileged

from qa.ui.cli import parser
from qa.config import PROJECT_ROOT as ROOT
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


def test_ray_finds_the_files_as_the_local_indexer_does(tmp_path: Path, embedder: Embedder) -> None:
    """Chat uploads are indexed and kept, and the documents of a sub-folder that cannot be listed stay indexed
    (`qa index --ray` used to drop both: "21 removed"); the next local refresh has nothing to redo."""
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY, corpus)
    s = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    s.uploads_dir.mkdir(parents=True)
    (s.uploads_dir / "ferry.md").write_text("# Ferry\n\nThe ferry leaves at nine.\n", encoding="utf-8")
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    store.close()
    (s.uploads_dir / "tides.md").write_text("# Tides\n\nHigh tide is at noon.\n", encoding="utf-8")
    (corpus / "notes").chmod(0)
    try:
        run = subprocess.run(as_unprivileged([sys.executable, "-m", "qa.ui.cli", "index", "--ray", "--corpus",
                                              str(corpus), "--index-dir", str(s.index_dir)]),
                             capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        (corpus / "notes").chmod(0o755)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"{corpus}: 1 added, 0 updated, 0 removed, 3 unchanged, 1 skipped;" in run.stdout, run.stdout
    assert "skipped notes/: it cannot be read" in run.stdout
    store = open_store(s, embedder)
    assert sorted(store.documents()) == [".uploads/ferry.md", ".uploads/tides.md", "bakery.md", "lighthouse.txt",
                                         "notes/festival.html"]
    again = refresh(store, embedder, s)
    assert not again.changed and again.unchanged == 5
    store.close()


RAY_THEN_SLEEP = """
from qa.index.ray_indexer import start_ray
start_ray(None, 1)
print("ready", flush=True)
import time
time.sleep(600)
"""


def descendants(pid: int) -> dict[int, str]:
    """The live descendants of a process, by pid, with their names."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            children.setdefault(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(
                int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            todo.append(child)
    return found


def alive(pids: dict[int, str]) -> list[str]:
    return [name for pid, name in pids.items() if Path(f"/proc/{pid}").exists()
            and " Z " not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:4]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_run_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    """SIGKILL runs no code of the driver: Ray's agents used to outlive it by a minute or two."""
    driver = subprocess.Popen([sys.executable, "-c", RAY_THEN_SLEEP], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert driver.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 120
    while not {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= set((started := descendants(driver.pid)).values()):
        assert time.monotonic() < deadline, started
        time.sleep(0.5)
    driver.kill()
    driver.wait()
    killed = time.monotonic()
    while (left := alive(started)) and time.monotonic() < killed + 20:
        time.sleep(0.5)
    assert not left, f"still running 20 s after the driver was killed: {left}"


def test_every_command_takes_a_store_and_index_takes_ray() -> None:
    for argv in (["index"], ["ask", "q"], ["search", "q"], ["eval", "f.jsonl"], ["serve"]):
        assert parser().parse_args([*argv, "--store", "qa.db"]).store == "qa.db"
    assert parser().parse_args(["index", "--ray"]).ray == ""
    assert parser().parse_args(["index", "--ray", "ray://head:10001"]).ray == "ray://head:10001"
    assert parser().parse_args(["index"]).ray is None
    with pytest.raises(SystemExit):
        parser().parse_args(["search", "q", "--ray"])
