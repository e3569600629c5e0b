"""What an index folder holds and how it is told apart: the SQLite schema, the spec an index was built with,
the corpus it records, and the errors about an index folder (other settings, another corpus, damage)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from qa.index.derived import DB_NAME, FAISS_NAME, MANIFEST_NAME
from qa.errors import IndexError_

SCHEMA_VERSION = 2  # part of the spec: an index of another version is rebuilt
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"  # BM25's terms; qa.index.fts_terms gives Milvus the same

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    source TEXT PRIMARY KEY, content_hash TEXT NOT NULL, text TEXT NOT NULL,
    chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, source TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='{FTS_TOKENIZER}');
CREATE TABLE IF NOT EXISTS vector_journal(generation INTEGER NOT NULL, id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_generation ON vector_journal(generation);
CREATE TABLE IF NOT EXISTS file_stats(
    source TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL);
"""

@dataclass(frozen=True)
class IndexSpec:
    """What an index was built with; an index is only reused when all of it matches."""

    embedder: str
    dimension: int
    chunk_words: int
    chunk_max_words: int
    chunk_overlap_words: int
    cleaning_version: int
    chunking_version: int
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class DocumentInfo:
    """A document as the index knows it."""

    source: str
    content_hash: str
    chunks: int
    indexed_at: float



class IndexMismatchError(IndexError_):
    """The index on disk was built with another embedder or other settings."""

    def __init__(self, message: str, corpus: Path | None = None) -> None:
        super().__init__(message)
        self.corpus = corpus  # the folder it holds, when it recorded one


class OtherCorpusError(IndexError_):
    """The index holds another folder's documents."""


class IndexDamagedError(IndexError_):
    """The index's database cannot be read: `qa index --rebuild` starts it afresh."""


def recorded_corpus(db: sqlite3.Connection, index_dir: Path) -> Path | None:
    """The corpus folder recorded in the index (relative to it), or None."""
    row = db.execute("SELECT value FROM meta WHERE key='corpus'").fetchone()
    return (index_dir / row[0]).resolve() if row else None


def damaged_message(db_path: Path, index_dir: Path, exc: Exception) -> str:
    return (f"the index file {db_path} is damaged ({exc}). Rebuild it with `qa index --rebuild`, "
            f"or delete {index_dir} and ask again.")


def refuse_foreign_manifest(index_dir: Path) -> None:
    """A manifest.json that qa did not write means the folder is someone else's: deleting it would lose it."""
    path = index_dir / MANIFEST_NAME
    if not path.is_file():
        return
    try:
        ours = "spec" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        ours = False
    if not ours:
        raise IndexError_(f"{index_dir} holds a {MANIFEST_NAME} that is not a qa index's: "
                          "give an empty or new folder for the index")


def delete_index(index_dir: Path) -> None:
    """Remove the index files, so that the next open starts empty; the database last, so that a crash
    midway leaves no derived file without it."""
    for name in (FAISS_NAME, MANIFEST_NAME, DB_NAME, f"{DB_NAME}-journal"):
        (Path(index_dir) / name).unlink(missing_ok=True)
