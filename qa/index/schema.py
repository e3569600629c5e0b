"""What an index folder holds and how it is told apart: the SQLite schema, the spec an index was built with,
the corpus it records, and the errors about an index folder (other settings, another corpus, damage)."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import faiss

from qa.index.derived import DB_NAME, FAISS_NAME, MANIFEST_NAME, read_manifest
from qa.errors import IndexError_

log = logging.getLogger("qa.index.store")

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


def check_lost_database(index_dir: Path) -> None:
    """Before a missing or empty index database is made anew: refuse a folder that holds someone else's manifest,
    and an empty database beside our manifest (damage to mend with `qa index --rebuild`). Where only the files
    derived from a lost database remain, say that it is gone and what rebuilding the index costs, and remove them."""
    db_path, manifest_path, faiss_path = index_dir / DB_NAME, index_dir / MANIFEST_NAME, index_dir / FAISS_NAME
    refuse_foreign_manifest(index_dir)
    empty = db_path.exists()
    if empty and manifest_path.exists():
        raise IndexDamagedError(
            f"the index database {db_path} is empty (0 bytes) although {MANIFEST_NAME} says an index was built "
            f"there: it was truncated, and the documents' text and vectors it held are lost. Rebuild the index "
            f"with `qa index --rebuild` (every document is embedded again).")
    if not manifest_path.exists() and not faiss_path.exists():
        return  # a new index
    manifest, _ = read_manifest(index_dir)
    documents = manifest.get("documents") if isinstance(manifest.get("documents"), dict) else {}
    try:
        chunks = sum(d["chunks"] for d in documents.values()) if documents else faiss.read_index(str(faiss_path)).ntotal
    except (RuntimeError, KeyError, TypeError):
        chunks = None
    held = f" of {len(documents):,} documents" if documents else ""
    log.warning("the index database %s is %s, and with it the text and vectors%s it held: the index is rebuilt "
                "from the corpus, every document embedded again%s", db_path,
                f"empty (0 bytes) and {MANIFEST_NAME} is gone" if empty else "gone (deleted)", held,
                f" ({chunks:,} chunks)" if chunks is not None else "")
    for path in (faiss_path, manifest_path):
        path.unlink(missing_ok=True)


def delete_index(index_dir: Path) -> None:
    """Remove the index files, so that the next open starts empty; the database last, so that a crash
    midway leaves no derived file without it."""
    for name in (FAISS_NAME, MANIFEST_NAME, DB_NAME, f"{DB_NAME}-journal"):
        (Path(index_dir) / name).unlink(missing_ok=True)
