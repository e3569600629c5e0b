"""Write files so that a crash leaves either the old file or the new one, never half of one; and remove the
temporary files that a crash left."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from qa.killpoints import reached

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; once the block succeeds it is synced and renamed onto `path`.

    The temporary file is locked (flock) while it is written, so that `remove_stale_temporaries` can tell
    one a crash left (nobody holds its lock) from one being written now by another process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = _locked_temporary(path)
    os.chmod(tmp_path, 0o644)  # mkstemp makes files private; an index is as readable as its corpus
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        reached(f"{path.name}:written")
        os.replace(tmp_path, path)
        reached(f"{path.name}:replaced")
    finally:
        tmp_path.unlink(missing_ok=True)
        os.close(fd)


def _locked_temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, locked; made again if a cleaner took it before it was locked."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, Path(tmp)
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_stale_temporaries(folder: Path, names: tuple[str, ...]) -> list[str]:
    """Remove the temporary files of `atomic_path` for these file names that a crashed writer left in `folder`
    (those whose lock nobody holds); returns their names. One that cannot be removed is left, with a note."""
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp"):
            try:
                fd = os.open(tmp, os.O_RDONLY)
            except OSError:
                continue  # gone already, or not ours to read
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tmp.unlink()
                removed.append(tmp.name)
            except BlockingIOError:
                pass  # being written by a live process
            except OSError as exc:
                log.info("cannot remove %s, left by an interrupted write: %s", tmp, exc.strerror)
            finally:
                os.close(fd)
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
