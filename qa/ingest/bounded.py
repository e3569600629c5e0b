"""Reading a file (extraction and cleaning) in a worker process that is stopped past its limits.

A hostile file can cost far more to read than its size says: a 450 KB Word file unpacked to 150 MB and
took minutes and gigabytes. Read in the server's own process, it stalled every user. Here a worker
process reads one file at a time, and:

- the unpacked size and the text are bounded as the file is read (`qa.ingest.extraction`): reading stops there;
- CPU time is bounded by RLIMIT_CPU, set before each file to what the worker has used plus the limit
  (the kernel stops it with SIGXCPU), and wall time by a watchdog here, for a worker that waits;
- memory is bounded by RLIMIT_AS, set to the worker's size when idle plus the limit (an allocation past
  it raises MemoryError, and the worker says so and exits).

A worker that is stopped is started again for the next file. Requests and replies are JSON lines on
its standard input and output. The worker imports only what reading needs, not the models.
"""

from __future__ import annotations

import json
import math
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.ingest.documents import Skipped, parse_document, size_problem
from qa.types import Document

WALL_FACTOR, WALL_EXTRA = 2, 30  # the watchdog allows this much wall time: factor * CPU limit + extra seconds
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ParseLimits:
    """What reading one file may take; from `Settings` (each has a QA_* variable)."""

    max_file_bytes: int
    max_unpacked_bytes: int
    max_text_chars: int
    cpu_seconds: int
    memory_bytes: int

    @classmethod
    def of(cls, settings) -> ParseLimits:
        """The limits that these `Settings` give."""
        return cls(settings.max_file_bytes, settings.max_unpacked_bytes, settings.max_text_chars,
                   settings.parse_cpu_seconds, settings.parse_memory_bytes)


def parse_bounded(source: str, suffix: str, path: Path, limits: ParseLimits) -> Document | Skipped:
    """Read the file at `path` as a `suffix` file cited as `source`, within the limits (an upload is read from
    where it was received, under the name it will have)."""
    return _WORKER.parse({"source": source, "suffix": suffix, "path": str(path), "limits": asdict(limits)})


class _Worker:
    """One worker process, started on first use and again after it is stopped; one file at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self.started = 0  # how many workers were started: each stop costs a new one
        self.reads = 0  # how many files were asked for

    def parse(self, request: dict) -> Document | Skipped:
        source, limits = request["source"], request["limits"]
        with self._lock:
            self.reads += 1
            process = self._start()
            deadline = time.monotonic() + WALL_FACTOR * limits["cpu_seconds"] + WALL_EXTRA
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                line = _read_line(process.stdout, deadline)
            except (OSError, ValueError):
                line = None
            if line is not None:
                reply = json.loads(line)
                if reply.get("exit"):  # it ran out of memory: its heap may be in pieces, so it ends
                    self._stop(process)
                if "reason" in reply:
                    return Skipped(source, reply["reason"])
                return Document(source=source, text=reply["text"], content_hash=reply["content_hash"])
            timed_out = process.poll() is None
            code = self._stop(process)
        return Skipped(source, _stop_reason(code, timed_out, limits))

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            package_root = str(Path(__file__).resolve().parents[2])  # this qa, not another installed one
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                                              os.environ.get("PYTHONPATH")]))}
            self._process = subprocess.Popen([sys.executable, "-m", "qa.ingest.bounded"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, env=env)
            self.started += 1
        return self._process

    def _stop(self, process: subprocess.Popen) -> int:
        if process.poll() is None:
            process.kill()
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._process = None
        return code


def _read_line(stream, deadline: float) -> bytes | None:
    """One line from the worker, or None when it ends or the deadline passes first."""
    parts = []
    fd = stream.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        block = os.read(fd, READ_CHUNK)
        if not block:
            return None
        parts.append(block)
        if block.endswith(b"\n"):
            return b"".join(parts)


def _stop_reason(code: int, timed_out: bool, limits: dict) -> str:
    """Why a stopped worker gave no text, said after "it", as a skipped file's reason."""
    if code == -signal.SIGXCPU:
        return (f"took over {limits['cpu_seconds']} s of CPU time to read, the limit (QA_PARSE_CPU_SECONDS); "
                "it was not read")
    if timed_out:
        return (f"took over {WALL_FACTOR * limits['cpu_seconds'] + WALL_EXTRA} s to read (the time limit, "
                "QA_PARSE_CPU_SECONDS, and a wait); it was not read")
    if code == -signal.SIGKILL:  # killed from outside: the system's out-of-memory killer, usually
        return _memory_reason(limits)
    return f"could not be read: the reading process stopped (exit status {code})"


def _memory_reason(limits: dict) -> str:
    return (f"needs over {limits['memory_bytes'] / 2**20:,.0f} MB of memory to read, the limit "
            "(QA_PARSE_MEMORY_BYTES); it was not read")


_WORKER = _Worker()


# ---- the worker's side -------------------------------------------------------------------------

def _vm_size() -> int:
    """This process's address space in bytes, which RLIMIT_AS bounds."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _serve() -> None:
    """Read files as requested on standard input, one JSON line each, and reply on standard output."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker stopped by SIGXCPU leaves no core file behind
    idle = _vm_size()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        limits = request["limits"]
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + limits["cpu_seconds"]), resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_AS, (idle + limits["memory_bytes"], resource.RLIM_INFINITY))
        reply: dict
        try:
            if too_large := size_problem(os.path.getsize(request["path"]), limits["max_file_bytes"]):
                doc = Skipped(request["source"], too_large)  # not read into memory at all
            else:
                doc = parse_document(request["source"], request["suffix"], Path(request["path"]).read_bytes(),
                                     limits["max_file_bytes"], limits["max_unpacked_bytes"], limits["max_text_chars"])
            reply = ({"reason": doc.reason} if isinstance(doc, Skipped)
                     else {"text": doc.text, "content_hash": doc.content_hash})
        except MemoryError:
            reply = {"reason": _memory_reason(limits), "exit": True}
        except OSError as exc:
            reply = {"reason": f"cannot be read: {exc.strerror}"}
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if reply.get("exit"):
            return


if __name__ == "__main__":
    _serve()
