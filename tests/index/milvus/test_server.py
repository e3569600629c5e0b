"""The server-URI path, smoke-tested on a real Milvus 2.3.5 standalone (pip `milvus`): dense retrieval only,
since BM25 came in Milvus 2.5, and hybrid retrieval is refused with what to do."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.models.embedder import Embedder
from qa.errors import IndexError_
from qa.pipeline import Assistant

TINY = Path(__file__).parents[2] / "data" / "tiny"
PORT = 19530  # the standalone's fixed proxy port


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def milvus_server(tmp_path: Path):
    """A Milvus 2.3.5 standalone in its own process group: the wrapper starts a child `milvus` binary,
    which outlives a wrapper killed alone, so the whole group is stopped."""
    exe = Path(sys.executable).parent / "milvus-server"
    assert exe.is_file(), "the test extra installs the Milvus standalone (pip `milvus`)"
    assert not listening(PORT), f"port {PORT} is taken: another Milvus is running"
    log = open(tmp_path / "milvus.log", "wb")
    proc = subprocess.Popen([str(exe), "--data", str(tmp_path / "milvus")], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not listening(PORT):
            assert proc.poll() is None, (tmp_path / "milvus.log").read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "Milvus did not start in 240 s"
            time.sleep(1)
        yield f"http://127.0.0.1:{PORT}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        deadline = time.monotonic() + 30  # a killed child is gone once init has reaped it
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert not _group_alive(proc.pid)
    assert not listening(PORT)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_milvus_server_serves_dense_retrieval_like_the_local_store(milvus_server: str, tmp_path: Path,
                                                                      embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY, corpus)
    with pytest.raises(IndexError_, match="has no BM25 .* use --retrieval dense"):
        Assistant(corpus=corpus, store=milvus_server).index()  # hybrid, the default, needs BM25
    server = Assistant(corpus=corpus, store=milvus_server, retrieval="dense")
    local = Assistant(corpus=corpus, index_dir=tmp_path / "index", retrieval="dense")
    server.embedder = local.embedder = embedder
    assert len(server.index().added) == len(local.index().added) == 3
    for question in ("Who keeps the lighthouse?", "When is the kite festival?"):
        got = [(h.chunk.source, h.chunk.start, h.chunk.end) for h in server.retrieve(question)]
        assert got == [(h.chunk.source, h.chunk.start, h.chunk.end) for h in local.retrieve(question)]
    assert server.document_text("lighthouse.txt") == local.document_text("lighthouse.txt")
    server.store.close()
