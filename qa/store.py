"""The persisted index under `embeddings/`: SQLite rows for documents and chunks, FAISS vectors, a manifest.

SQLite is the source of truth and its transactions are atomic; it also keeps each chunk's vector,
so the FAISS file is a derived copy. Each write also journals the chunk keys it touched, under a
generation number. The manifest records the generation the FAISS file holds; opening the index
replays the journal since then (those keys' current vectors, read from SQLite), so a small change
to a large index does not rewrite the whole FAISS file: it is rewritten once the journal since it
passes `JOURNAL_MAX_SHARE` of the vectors. The same journal keeps a store that stays open (the chat)
current with writes from another process (`qa index`): it catches up before it searches or writes.
A FAISS file that is missing, damaged, or cannot be brought up to date is rebuilt from SQLite
without re-embedding.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qa.atomic import atomic_write_bytes
from qa.errors import IndexError_
from qa.types import Chunk, Document, Signature
from qa.vectors import VectorIndex, choose_kind

log = logging.getLogger(__name__)

DB_NAME, FAISS_NAME, MANIFEST_NAME = "index.sqlite", "vectors.faiss", "manifest.json"
SCHEMA_VERSION = 2  # part of the spec: an index of another version is rebuilt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    source TEXT PRIMARY KEY, content_hash TEXT NOT NULL, text TEXT NOT NULL,
    chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, source TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS vector_journal(generation INTEGER NOT NULL, id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_generation ON vector_journal(generation);
CREATE TABLE IF NOT EXISTS file_stats(
    source TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL);
"""
# Rewrite the FAISS file once the journal since it holds this share of the index's vectors; below that,
# opening replays it. Small indexes are rewritten on every change, large ones rarely.
JOURNAL_MAX_SHARE = 0.1

# Words too common to help BM25; leaving them out also keeps FTS5 from scanning huge posting lists.
_STOPWORDS = frozenset("""a an and are as at be by did do does for from had has have he her his how i in
is it its of on or she that the their them they this to was were what when where which who whom whose
why will with you your""".split())
_TOKEN = re.compile(r"\w+", re.UNICODE)


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


def chunk_key(chunk_id: str) -> int:
    """The int64 key of a chunk in SQLite and FAISS, from its hex id."""
    return int(chunk_id[:15], 16)


class Store:
    """Open with `Store.open(index_dir, spec)`; reads are thread-safe, writes go through `write`."""

    def __init__(self, index_dir: Path, spec: IndexSpec, db: sqlite3.Connection, vectors: VectorIndex,
                 index_type: str = "auto") -> None:
        self.index_dir = index_dir
        self.spec = spec
        self._db = db
        self.vectors = vectors
        self.index_type = index_type  # "auto" follows the corpus size (qa.vectors.choose_kind)
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
        if not db_path.exists():
            if not create:
                raise IndexError_(f"no index at {index_dir}: build one with `qa index`")
            _refuse_foreign_manifest(index_dir)
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
            db.executescript(_SCHEMA)
            # Damage past the first pages only shows when those pages are read: check every page now.
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
            row = db.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise IndexError_(f"cannot open the index at {index_dir} for writing ({exc}): "
                                  "make it writable, or give another folder for the index") from exc
            raise IndexDamagedError(_damaged_message(db_path, index_dir, exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise IndexDamagedError(_damaged_message(db_path, index_dir, exc)) from exc
        if row is None:
            db.execute("INSERT INTO meta VALUES('spec', ?)", (json.dumps(asdict(spec), sort_keys=True),))
            db.execute("INSERT OR REPLACE INTO meta VALUES('generation', '0')")
        else:
            built = json.loads(row[0])
            if built != asdict(spec):
                held = _recorded_corpus(db, index_dir)
                db.close()
                diff = ", ".join(f"{k}: {built.get(k)!r} -> {v!r}" for k, v in asdict(spec).items() if built.get(k) != v)
                raise IndexMismatchError(f"the index at {index_dir} was built with other settings ({diff})",
                                         corpus=held)
        store = cls(index_dir, spec, db, VectorIndex(spec.dimension), index_type)
        store._load_vectors()
        return store

    def _load_vectors(self) -> None:
        path = self.index_dir / FAISS_NAME
        self._at = self.generation()
        count = self.chunk_count()
        if path.exists():
            try:
                vectors = VectorIndex.load(path, self.spec.dimension)
            except RuntimeError as exc:
                log.warning("%s is damaged (%s): rebuilding it from the stored vectors", path, str(exc).splitlines()[0])
            else:
                if self._catch_up(vectors, self.manifest().get("generation")) and len(vectors) == count:
                    self.vectors = vectors
                    if not self._index_outgrown():
                        return
                    log.info("%s is a %s index; %d vectors want %s: rebuilding it", path, vectors.kind, count,
                             choose_kind(count, self.index_type, vectors.kind))
                    self._rebuild_vectors()
                    self._save_derived()
                    return
                log.warning("%s is older than %s: rebuilding it from the stored vectors", path, DB_NAME)
        elif count:
            log.warning("%s is missing: rebuilding it from the stored vectors", path)
        self._rebuild_vectors()
        self._save_derived()

    def _catch_up(self, vectors: VectorIndex, at: object) -> bool:
        """Replay the journal since generation `at` onto `vectors`; False when the journal cannot do it."""
        pruned = self._meta_int("journal_pruned_through")
        if not isinstance(at, int) or not pruned <= at <= self.generation():
            return False
        touched = np.array([r[0] for r in self._db.execute(
            "SELECT DISTINCT id FROM vector_journal WHERE generation > ?", (at,))], dtype=np.int64)
        if len(touched):
            vectors.remove(touched)  # then add back those that still exist, with their current vectors
            for ids, vecs in self._stored_vectors(touched):
                vectors.add(ids, vecs)
            log.info("brought the FAISS copy up to date with %d journaled chunk changes", len(touched))
        return True

    def _sync(self) -> None:
        """Catch the FAISS copy in memory up with writes committed by another process (`qa index` while
        `qa serve` runs): replay the journal since it was current, or reload the file when that process
        rewrote it and spent the journal."""
        now = self.generation()
        if now == self._at:
            return
        if self._catch_up(self.vectors, self._at):
            self._at = now
        else:
            self._load_vectors()

    def _index_outgrown(self) -> bool:
        """Whether the FAISS copy is of another kind than its size (or the setting) calls for, or degraded."""
        n = len(self.vectors)
        return self.vectors.kind != choose_kind(n, self.index_type, self.vectors.kind) or self.vectors.needs_rebuild

    def _rebuild_vectors(self) -> None:
        """Build the FAISS copy afresh from the vectors kept in SQLite, streamed in batches."""
        count = self.chunk_count()
        kind = choose_kind(count, self.index_type, self.vectors.kind)
        self.vectors = VectorIndex.build(kind, self.spec.dimension, self._stored_vectors, count)

    def _stored_vectors(self, keys: np.ndarray | None = None, batch: int = 4096):
        """(ids, vectors) in batches: every stored chunk in key order, or those of `keys` that exist."""
        if keys is None:
            cursor = self._db.execute("SELECT id, vector FROM chunks ORDER BY id")
            parts = iter(lambda: cursor.fetchmany(batch), [])
        else:
            parts = (self._db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                                      part.tolist()).fetchall()
                     for part in np.array_split(keys, max(1, -(-len(keys) // batch))))
        for rows in parts:
            if rows:
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                yield ids, vecs

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
        try:
            return json.loads((self.index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def corpus(self) -> Path | None:
        """The corpus folder this index holds, or None when it has not recorded one."""
        with self._lock:
            return _recorded_corpus(self._db, self.index_dir)

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

    def chunks(self, keys: list[int]) -> dict[int, Chunk]:
        """The chunks with these keys."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(
                f'SELECT c.id, c.chunk_id, c.source, c.start, c."end", f.text FROM chunks c '
                f"JOIN chunks_fts f ON f.rowid = c.id WHERE c.id IN ({marks})", keys).fetchall()
        return {r[0]: Chunk(id=r[1], source=r[2], start=r[3], end=r[4], text=r[5]) for r in rows}

    def search_dense(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """For each query vector, the (chunk key, cosine) of its `k` nearest chunks."""
        with self._lock:
            self._sync()
            scores, ids = self.vectors.search(queries, k)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def search_bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        """The (chunk key, BM25 score) of the `k` best keyword matches, best first."""
        terms = list(dict.fromkeys(t for t in _TOKEN.findall(query.lower()) if t not in _STOPWORDS))
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
                (match, k)).fetchall()
        return [(r[0], -r[1]) for r in rows]  # FTS5 scores are negated BM25

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
                self._db.execute("COMMIT")
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

    def save(self) -> None:
        """Persist the FAISS copy and the manifest after writes; SQLite is already durable."""
        with self._lock:
            self._sync()
            if self._index_outgrown():  # crossing the size threshold rebuilds once, here
                self._rebuild_vectors()
                self._save_derived()
                return
            at = self.manifest().get("generation")
            journal = self._db.execute("SELECT count(*) FROM vector_journal WHERE generation > ?",
                                       (at if isinstance(at, int) else -1,)).fetchone()[0]
            small = isinstance(at, int) and journal <= JOURNAL_MAX_SHARE * len(self.vectors)
            self._save_derived(vectors_at=at if small and (self.index_dir / FAISS_NAME).exists() else None)

    def _save_derived(self, vectors_at: int | None = None) -> None:
        """Write the manifest, and the FAISS file unless `vectors_at` says which generation the one on disk holds."""
        generation = self.generation()
        if vectors_at is None:
            self.vectors.save(self.index_dir / FAISS_NAME)
        docs = self.documents()
        manifest = {
            "spec": asdict(self.spec),
            "generation": generation if vectors_at is None else vectors_at,
            "index_generation": generation,
            "index_type": self.vectors.kind,
            "index_params": self.vectors.params,
            "vectors": len(self.vectors),
            "built_at": max((d.indexed_at for d in docs.values()), default=None),
            "documents": {s: {"sha256": d.content_hash, "chunks": d.chunks} for s, d in docs.items()},
        }
        atomic_write_bytes(self.index_dir / MANIFEST_NAME, json.dumps(manifest, separators=(",", ":")).encode())
        if vectors_at is None:  # the FAISS file and the manifest now hold `generation`: its journal is spent
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM vector_journal WHERE generation <= ?", (generation,))
                self._db.execute("INSERT OR REPLACE INTO meta VALUES('journal_pruned_through', ?)", (str(generation),))
                self._db.execute("COMMIT")

    def clear(self) -> None:
        """Remove every document (for a rebuild)."""
        self.write([], removed=list(self.documents()))


class IndexMismatchError(IndexError_):
    """The index on disk was built with another embedder or other settings."""

    def __init__(self, message: str, corpus: Path | None = None) -> None:
        super().__init__(message)
        self.corpus = corpus  # the folder it holds, when it recorded one


class OtherCorpusError(IndexError_):
    """The index holds another folder's documents."""


class IndexDamagedError(IndexError_):
    """The index's database cannot be read: `qa index --rebuild` starts it afresh."""


def _recorded_corpus(db: sqlite3.Connection, index_dir: Path) -> Path | None:
    """The corpus folder recorded in the index (relative to it), or None."""
    row = db.execute("SELECT value FROM meta WHERE key='corpus'").fetchone()
    return (index_dir / row[0]).resolve() if row else None


def _damaged_message(db_path: Path, index_dir: Path, exc: Exception) -> str:
    return (f"the index file {db_path} is damaged ({exc}). Rebuild it with `qa index --rebuild`, "
            f"or delete {index_dir} and ask again.")


def _refuse_foreign_manifest(index_dir: Path) -> None:
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
    """Remove the index files, so that the next open starts empty."""
    for name in (DB_NAME, f"{DB_NAME}-journal", FAISS_NAME, MANIFEST_NAME):
        (Path(index_dir) / name).unlink(missing_ok=True)
