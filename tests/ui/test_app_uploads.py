"""The chat (app.py) against hostile uploads, served in its own process as users reach it: a zip bomb is refused
within its limits (CPU time and memory of the server and its worker, measured from /proc), and meanwhile other
users load the page and get answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.hostile import bomb_docx

from qa.config import PROJECT_ROOT

QUESTION = "How tall is the Old Harbour Lighthouse?"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """The process and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of the process tree: each live process's own, and that of the children it has reaped."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of the process tree."""
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


class Peak(threading.Thread):
    """Samples the tree's resident memory every 20 ms until stopped; `peak` is the most seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, rss_bytes(pid), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))


@pytest.fixture
def server(tiny_corpus: Path, tmp_path: Path, reader_model: str):
    """`python app.py` over a copy of the tiny corpus, in its own process; (its process, its URL)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "QA_CORPUS": str(tiny_corpus),
           "QA_INDEX_DIR": str(tmp_path / "index"), "QA_PORT": str(port), "QA_READER_MODEL": reader_model,
           "QA_ANSWER_THRESHOLD": "0", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py")], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 600  # the models load first; a busy machine takes long
    while True:
        assert process.poll() is None, "the chat did not start"
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the chat did not start within 10 minutes"
        time.sleep(0.5)
    yield process, url
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_zip_bomb_upload_is_refused_within_its_limits_while_others_are_answered(server, tiny_corpus: Path,
                                                                                 tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    process, url = server
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(bomb_docx())  # 440 KB, its XML unpacks to 150 MB
    uploader, asker = Client(url, verbose=False), Client(url, verbose=False)
    asker.predict(QUESTION, api_name="/respond")  # warm: the first question's own costs are not the upload's

    # Alone, so that what it costs is its own.
    cpu, peak = cpu_seconds(process.pid), Peak(process.pid)
    before = peak.peak
    peak.start()
    message = uploader.predict([handle_file(bomb)], api_name="/add_documents")[0]
    peak.done.set()
    peak.join()
    assert "Refused bomb.docx: it unpacks to 143 MB, over the limit of 64 MB (QA_MAX_UNPACKED_BYTES)" in message
    assert cpu_seconds(process.pid) - cpu < 5.0
    assert peak.peak - before < 300 * 2**20

    # A bomb under the unpacked limit is read until its text passes the limit: meanwhile the page loads and
    # another user's question is answered.
    slower = tmp_path / "slower.docx"
    slower.write_bytes(bomb_docx(60 * 10**6))
    done: dict[str, float | str] = {}

    def upload() -> None:
        done["message"] = uploader.predict([handle_file(slower)], api_name="/add_documents")[0]
        done["upload"] = time.monotonic()

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.5)
    asked = time.monotonic()
    page = httpx.get(url, timeout=60)
    _, answer = asker.predict(QUESTION, api_name="/respond")
    answered = time.monotonic()
    thread.join(300)
    assert page.status_code == 200
    assert answer["error"] is None and answer["text"]
    assert answer["source"] in ("lighthouse.txt", "bakery.md", "notes/festival.html")
    assert "Refused slower.docx: it holds over 20,000,000 characters of text, the limit (QA_MAX_TEXT_CHARS)" \
        in done["message"]
    assert asked < done["upload"], "the question was not asked while the upload was being read"
    print(f"question answered in {answered - asked:.2f} s; the upload took {done['upload'] - asked + 0.5:.2f} s")
    assert not list(tiny_corpus.glob("*.docx"))  # a refused upload is not written
