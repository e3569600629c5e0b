"""The persisted index under `embeddings/`: SQLite rows for documents and chunks, FAISS vectors, a manifest.

SQLite is the source of truth and its transactions are atomic; it also keeps each chunk's vector,
so the FAISS file is a derived copy. Each write also journals the chunk keys it touched, under a
generation number. The FAISS file and the manifest are kept in line with the database by
`qa.index.derived`: opening replays the journal since the FAISS file's generation, and repairs what a
crash left, without re-embedding. The same journal keeps a store that stays open (the chat) current
with writes from another process (`qa index`): it catches up before it searches or writes.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qa.index.search import Searches
from qa.index.derived import DB_NAME, FAISS_NAME, MANIFEST_NAME, DerivedFiles, read_manifest
from qa.errors import IndexError_
from qa.index.schema import (SCHEMA, SCHEMA_VERSION, DocumentInfo, IndexDamagedError, IndexMismatchError, IndexSpec,
                             OtherCorpusError, check_lost_database, damaged_message, delete_index, recorded_corpus)
from qa.killpoints import reached
from qa.types import Chunk, Document, Signature
from qa.index.vectors import VectorIndex

log = logging.getLogger(__name__)

__all__ = ["DB_NAME", "FAISS_NAME", "MANIFEST_NAME", "SCHEMA_VERSION", "DocumentInfo", "IndexDamagedError",
           "IndexMismatchError", "IndexSpec", "OtherCorpusError", "Store", "chunk_key", "delete_index"]


def chunk_key(chunk_id: str) -> int:
    """The int64 key of a chunk in SQLite and FAISS, from its hex id."""
    return int(chunk_id[:15], 16)


class Store(DerivedFiles, Searches):
    """Open with `Store.open(index_dir, spec)`; reads are thread-safe, writes go through `write`."""

    def __init__(self, index_dir: Path, spec: IndexSpec, db: sqlite3.Connection, vectors: VectorIndex,
                 index_type: str = "auto") -> None:
        self.index_dir = index_dir
        self.spec = spec
        self._db = db
        self.vectors = vectors
        self.index_type = index_type  # "auto" follows the corpus size (qa.index.vectors.choose_kind)
        self._lock = threading.RLock()
        self._at = 0  # the generation `vectors` reflects; another process's writes move SQLite past it

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, index_dir: Path, spec: IndexSpec, create: bool = True, index_type: str = "auto") -> Store:
        """Open the index; raises IndexError_ when it is damaged, unusable, or was built with another spec."""
        index_dir = Path(index_dir)
        db_path = index_dir / DB_NAME
        if index_dir.exists() and not index_dir.is_dir():
            raise IndexError_(f"the index folder {index_dir} is a file: give a folder for the index")
        if not db_path.exists() and not create:
            raise IndexError_(f"no index at {index_dir}: build one with `qa index`")
        if not db_path.exists() or db_path.stat().st_size == 0:  # SQLite takes an empty file for a new database
            check_lost_database(index_dir)
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexError_(f"cannot create the index folder {index_dir}: {exc.strerror}") from exc
        try:
            db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:  # someone else's database: never add our tables to it
                db.close()
                raise IndexError_(f"{db_path} is not a qa index: give an empty or new folder for the index")
            db.execute("PRAGMA journal_mode=DELETE")
            db.executescript(SCHEMA)
            # Damage past the first pages only shows when those pages are read: check every page now.
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
            row = db.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise IndexError_(f"cannot open the index at {index_dir} for writing ({exc}): "
                                  "make it writable, or give another folder for the index") from exc
            raise IndexDamagedError(damaged_message(db_path, index_dir, exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise IndexDamagedError(damaged_message(db_path, index_dir, exc)) from exc
        if row is None:
            db.execute("INSERT INTO meta VALUES('spec', ?)", (json.dumps(asdict(spec), sort_keys=True),))
            db.execute("INSERT OR REPLACE INTO meta VALUES('generation', '0')")
        else:
            built = json.loads(row[0])
            if built != asdict(spec):
                held = recorded_corpus(db, index_dir)
                db.close()
                diff = ", ".join(f"{k}: {built.get(k)!r} -> {v!r}" for k, v in asdict(spec).items() if built.get(k) != v)
                raise IndexMismatchError(f"the index at {index_dir} was built with other settings ({diff})",
                                         corpus=held)
        store = cls(index_dir, spec, db, VectorIndex(spec.dimension), index_type)
        store._load_vectors()
        return store

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ---- reading -------------------------------------------------------------------------

    def generation(self) -> int:
        """Counts committed writes; the manifest records the one the FAISS file holds."""
        return self._meta_int("generation")

    def _meta_int(self, key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def file_stats(self) -> dict[str, Signature]:
        """The signature each indexed file had when its hash was last checked."""
        with self._lock:
            rows = self._db.execute("SELECT source, size, mtime_ns, ctime_ns FROM file_stats")
            return {r[0]: tuple(r[1:]) for r in rows}

    def file_stat(self, source: str) -> Signature | None:
        """`file_stats` for one file."""
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, ctime_ns FROM file_stats WHERE source=?",
                                   (source,)).fetchone()
        return tuple(row) if row else None

    def content_hash(self, source: str) -> str | None:
        """The hash of an indexed document's file as it was indexed, or None when it is not indexed."""
        with self._lock:
            row = self._db.execute("SELECT content_hash FROM documents WHERE source=?", (source,)).fetchone()
        return row[0] if row else None

    def record_file_stats(self, stats: list[tuple[str, Signature]]) -> None:
        """Remember the signatures of files whose content matches the index, so that a refresh can skip
        reading them while their signatures stay the same. Only a saving: a read-only index goes without."""
        if not stats:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR REPLACE INTO file_stats VALUES(?,?,?,?)",
                                     [(source, *sig) for source, sig in stats])
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                log.info("file signatures not recorded in %s: %s", self.index_dir, exc)

    def manifest(self) -> dict:
        """The manifest as last written, or {} when it is missing or unreadable."""
        return read_manifest(self.index_dir)[0]

    def corpus(self) -> Path | None:
        """The corpus folder this index holds, or None when it has not recorded one."""
        with self._lock:
            return recorded_corpus(self._db, self.index_dir)

    def record_corpus(self, corpus: Path) -> None:
        """Record the corpus folder this index holds, relative to the index: moving both together keeps it."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES('corpus', ?)",
                             (os.path.relpath(Path(corpus).resolve(), self.index_dir.resolve()),))

    def chunk_count(self) -> int:
        """How many chunks are indexed."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def documents(self, limit: int | None = None) -> dict[str, DocumentInfo]:
        """The indexed documents by source, in order of source; all of them, or the first `limit`."""
        with self._lock:
            rows = self._db.execute("SELECT source, content_hash, chunks, indexed_at FROM documents ORDER BY source "
                                    "LIMIT ?", (-1 if limit is None else limit,))
            return {r[0]: DocumentInfo(*r) for r in rows}

    def summary(self) -> tuple[int, int, float | None]:
        """(documents, chunks, when a document was last indexed) over the whole index, without listing it."""
        with self._lock:
            count, chunks, last = self._db.execute(
                "SELECT count(*), coalesce(sum(chunks), 0), max(indexed_at) FROM documents").fetchone()
        return count, chunks, last

    def document_text(self, source: str) -> str | None:
        """The cleaned text of an indexed document, which answer offsets refer to."""
        with self._lock:
            row = self._db.execute("SELECT text FROM documents WHERE source=?", (source,)).fetchone()
        return row[0] if row else None

    def document_heads(self, sources: list[str], chars: int) -> dict[str, str]:
        """The first `chars` characters of each of these indexed documents, by source."""
        heads: dict[str, str] = {}
        for i in range(0, len(sources), 500):  # SQLite caps the parameters of one statement
            part = sources[i:i + 500]
            marks = ",".join("?" * len(part))
            with self._lock:
                heads.update(self._db.execute(
                    f"SELECT source, substr(text, 1, ?) FROM documents WHERE source IN ({marks})", (chars, *part)))
        return heads

    # ---- writing -------------------------------------------------------------------------

    def write(self, documents: list[tuple[Document, list[Chunk], np.ndarray]], removed: list[str] = ()) -> None:
        """Replace these documents' chunks and drop the removed ones, in one transaction."""
        now = time.time()
        with self._lock:
            old_keys: list[int] = []
            try:
                self._db.execute("BEGIN IMMEDIATE")
                before = self.generation()
                generation = before + 1
                for source in [*removed, *(d.source for d, _, _ in documents)]:
                    old_keys += [r[0] for r in self._db.execute("SELECT id FROM chunks WHERE source=?", (source,))]
                    self._db.execute("DELETE FROM chunks WHERE source=?", (source,))
                    self._db.execute("DELETE FROM documents WHERE source=?", (source,))
                    self._db.execute("DELETE FROM file_stats WHERE source=?", (source,))
                if old_keys:
                    self._db.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(k,) for k in old_keys])
                for doc, chunks, vecs in documents:
                    self._db.execute("INSERT INTO documents VALUES(?,?,?,?,?)",
                                     (doc.source, doc.content_hash, doc.text, len(chunks), now))
                    rows = [(chunk_key(c.id), c.id, c.source, c.start, c.end, vecs[i].astype(np.float32).tobytes())
                            for i, c in enumerate(chunks)]
                    self._db.executemany("INSERT INTO chunks VALUES(?,?,?,?,?,?)", rows)
                    self._db.executemany("INSERT INTO chunks_fts(rowid, text) VALUES(?,?)",
                                         [(chunk_key(c.id), c.text) for c in chunks])
                touched = set(old_keys).union(*({chunk_key(c.id) for c in chunks} for _, chunks, _ in documents))
                self._db.executemany("INSERT INTO vector_journal VALUES(?,?)", [(generation, k) for k in touched])
                self._db.execute("UPDATE meta SET value=? WHERE key='generation'", (str(generation),))
                reached("sqlite:writing")
                self._db.execute("COMMIT")
                reached("sqlite:committed")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if before != self._at:  # another process wrote too: replay its writes and this one
                self._sync()
                return
            self.vectors.remove(np.array(old_keys, dtype=np.int64))
            for _, chunks, vecs in documents:
                self.vectors.add(np.array([chunk_key(c.id) for c in chunks], dtype=np.int64), vecs)
            self._at = generation

    def clear(self) -> None:
        """Remove every document (for a rebuild)."""
        self.write([], removed=list(self.documents()))
