"""A file's checksum, for telling an index file damaged on disk (the local FAISS file, Milvus Lite's files)."""

from __future__ import annotations

import zlib
from pathlib import Path


def file_checksum(path: Path) -> str:
    """The CRC-32 of a file, in hex: made to tell accidental damage, and fast enough to check a 150 MB FAISS file
    on every open (0.2 s here under load, where SHA-256 took 0.6 s)."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"
