"""The files derived from the index's SQLite database, kept in line with it: the FAISS copy of the vectors
(`vectors.faiss`) and the manifest (`manifest.json`).

SQLite is the source of truth; each write journals the chunk keys it touched under a generation number.
The manifest records the generation the FAISS file holds (`generation`) and the one it lists the
documents of (`index_generation`). Opening replays the journal since the FAISS file's generation, so
a small change to a large index does not rewrite the whole FAISS file: `save` rewrites it once the
journal passes `JOURNAL_MAX_SHARE` of the vectors.

A crash can stop a write between any two of its steps. Opening repairs what it left, once, without
embedding anything: temporary files are removed; a FAISS file that is missing, damaged, or cannot be
brought up to date is rebuilt from the vectors SQLite keeps; and a manifest behind the database, or a
journal long enough that `save` would have rewritten the FAISS file, is written back, so that later
opens have nothing to replay. Damage that leaves the FAISS file readable (bytes changed in its vectors)
is told by its checksum, which the manifest records (`CHECKSUM`); an index written before that has its
FAISS file rebuilt once, on open, to record it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qa.atomic import atomic_write_bytes, remove_stale_temporaries
from qa.killpoints import reached
from qa.index.checksum import file_checksum
from qa.index.vectors import VectorIndex, choose_kind

log = logging.getLogger("qa.index.store")

DB_NAME, FAISS_NAME, MANIFEST_NAME = "index.sqlite", "vectors.faiss", "manifest.json"
# Rewrite the FAISS file once the journal since it holds this share of the index's vectors; below that,
# opening replays it. Small indexes are rewritten on every change, large ones rarely.
JOURNAL_MAX_SHARE = 0.1
NOTHING_EMBEDDED = "nothing is embedded again"
CHECKSUM = "faiss_crc32"  # the manifest's record of the FAISS file it goes with: damage is told on open


def read_manifest(index_dir: Path) -> tuple[dict, str | None]:
    """The manifest, and what is wrong with it: None, "missing", or "damaged (why)"."""
    try:
        manifest = json.loads((Path(index_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, "missing"
    except (OSError, ValueError) as exc:
        return {}, f"damaged ({type(exc).__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("generation"), int):
        return {}, "damaged (not an index manifest)"
    return manifest, None


class DerivedFiles:
    """The Store's handling of its FAISS file and manifest (a mixin: the Store holds the database)."""

    index_dir: Path

    def _load_vectors(self) -> None:
        """Load the FAISS copy, bring it up to date, and repair what an interrupted write left on disk."""
        removed = remove_stale_temporaries(self.index_dir, (FAISS_NAME, MANIFEST_NAME))
        if removed:
            log.info("removed %s, left in %s by an interrupted write", ", ".join(removed), self.index_dir)
        path = self.index_dir / FAISS_NAME
        self._at = self.generation()
        count = self.chunk_count()
        manifest, problem = read_manifest(self.index_dir)
        vectors = None
        if path.exists() and (distrust := self._distrust(path, manifest, problem, count)):
            log.warning("%s; %s", distrust, NOTHING_EMBEDDED)
        elif path.exists():
            try:
                vectors = VectorIndex.load(path, self.spec.dimension)
            except RuntimeError:  # FAISS's own message ends with an unrelated errno text: not shown
                log.warning("%s is damaged (it cannot be read as a FAISS index): rebuilding it from the vectors "
                            "stored in %s; %s", path, DB_NAME, NOTHING_EMBEDDED)
            else:
                if not (self._catch_up(vectors, manifest.get("generation", 0)) and len(vectors) == count):
                    log.warning("%s is older than %s and its journal cannot bring it up to date (an interrupted "
                                "write): rebuilding it from the stored vectors; %s", path, DB_NAME, NOTHING_EMBEDDED)
                    vectors = None
        elif count:
            log.warning("%s is missing: rebuilding it from the vectors stored in %s; %s", path, DB_NAME,
                        NOTHING_EMBEDDED)
        if vectors is None:
            self._rebuild_vectors()
            self._write_back()
            return
        self.vectors = vectors
        if self._index_outgrown():
            log.info("%s is a %s index; %d vectors want %s: rebuilding it", path, vectors.kind, count,
                     choose_kind(count, self.index_type, vectors.kind))
            self._rebuild_vectors()
            self._write_back()
        elif manifest.get("index_generation") != self._at or self._journal_too_long(manifest.get("generation")):
            # An interrupted write: the manifest is behind the database (a crash between a commit and its write),
            # or the FAISS file is so far behind that every open would replay most of the index. Once, here.
            log.info("%s or %s was left behind %s by an interrupted write: writing it again", FAISS_NAME,
                     MANIFEST_NAME, DB_NAME)
            self._write_back(save=True)
        elif self._meta_int("journal_pruned_through") < manifest["generation"]:
            # Stopped after both files were written, before the journal they hold was dropped.
            log.info("dropping the journal %s already holds (an interrupted write)", FAISS_NAME)
            try:
                self._prune_journal(manifest["generation"])
            except sqlite3.OperationalError as exc:  # read-only: replaying it does no harm
                log.info("the journal in %s cannot be dropped (%s)", self.index_dir, exc)

    def _distrust(self, path: Path, manifest: dict, problem: str | None, count: int) -> str | None:
        """Why the FAISS file on disk is not to be used, but rebuilt from the vectors SQLite keeps; or None."""
        if problem and not count:  # an empty index has nothing to lose by reading the file as it is
            return None
        if problem:
            return (f"{self.index_dir / MANIFEST_NAME} is {problem}, so which changes {FAISS_NAME} holds is unknown: "
                    f"rebuilding it from the vectors stored in {DB_NAME} and writing the manifest again")
        if CHECKSUM not in manifest:
            return (f"upgrading the index at {self.index_dir} in place: its {MANIFEST_NAME} records no checksum of "
                    f"{FAISS_NAME} (it was written before they were kept), so {FAISS_NAME} is rebuilt once from the "
                    f"vectors stored in {DB_NAME}, and its checksum recorded")
        expected = self._db.execute("SELECT value FROM meta WHERE key=?", (CHECKSUM,)).fetchone()
        # The database's is that of a file written after the manifest: a write that stopped before the manifest.
        if file_checksum(path) not in (manifest[CHECKSUM], expected and expected[0]):
            return (f"{path} does not match the checksum {MANIFEST_NAME} records for it: its data is damaged: "
                    f"rebuilding it from the vectors stored in {DB_NAME}")
        return None

    def _write_back(self, save: bool = False) -> None:
        """Write the derived files from memory (`save`: as `save` would), unless the folder is read-only."""
        try:
            self.save() if save else self._save_derived()
        except (OSError, sqlite3.OperationalError) as exc:  # a read-only index still answers from memory
            log.info("the index files in %s cannot be written (%s): they are kept up to date in memory only",
                     self.index_dir, exc)

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

    def _journal_too_long(self, at: object) -> bool:
        """Whether the journal since generation `at` (the FAISS file's) calls for rewriting the FAISS file."""
        journal = self._db.execute("SELECT count(*) FROM vector_journal WHERE generation > ?",
                                   (at if isinstance(at, int) else -1,)).fetchone()[0]
        return not isinstance(at, int) or journal > JOURNAL_MAX_SHARE * len(self.vectors)

    def save(self) -> None:
        """Persist the FAISS copy and the manifest after writes; SQLite is already durable."""
        with self._lock:
            self._sync()
            if self._index_outgrown():  # crossing the size threshold rebuilds once, here
                self._rebuild_vectors()
                self._save_derived()
                return
            manifest = self.manifest()
            at, checksum = manifest.get("generation"), manifest.get(CHECKSUM)
            keep = checksum and not self._journal_too_long(at) and (self.index_dir / FAISS_NAME).exists()
            self._save_derived(vectors_at=at if keep else None, checksum=checksum)

    def _save_derived(self, vectors_at: int | None = None, checksum: str | None = None) -> None:
        """Write the manifest, and the FAISS file unless `vectors_at` says which generation the one on disk holds
        (and `checksum` what its checksum is)."""
        generation = self.generation()
        if vectors_at is None:
            checksum = self.vectors.save(self.index_dir / FAISS_NAME, before_replace=self._expect)
        docs = self.documents()
        manifest = {
            "spec": asdict(self.spec),
            CHECKSUM: checksum,
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
            self._prune_journal(generation)

    def _expect(self, checksum: str) -> None:
        """Record, before it replaces the one on disk, the checksum of a FAISS file that the manifest will name."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (CHECKSUM, checksum))

    def _prune_journal(self, generation: int) -> None:
        """Drop the journal through `generation`, which the FAISS file on disk holds."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM vector_journal WHERE generation <= ?", (generation,))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES('journal_pruned_through', ?)", (str(generation),))
            self._db.execute("COMMIT")
            reached("journal:pruned")
