"""The local store's reads by search: dense (FAISS) and BM25 (SQLite FTS5), over the whole index or within a scope
of documents, and the chunks they find. A mixin of `qa.index.store.Store`, which holds the database."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable

import numpy as np

from qa.index.vectors import VectorIndex
from qa.types import Chunk

# Words too common to help BM25; leaving them out also keeps FTS5 from scanning huge posting lists.
STOPWORDS = frozenset("""a an and are as at be by did do does for from had has have he her his how i in
is it its of on or she that the their them they this to was were what when where which who whom whose
why will with you your""".split())
TOKEN = re.compile(r"\w+", re.UNICODE)
SQL_PARAMETERS = 500  # keys a statement: well under SQLite's cap on the parameters of one statement
# The scope's sources go to SQLite as one JSON array, so that a scope of any size is one parameter.
IN_SCOPE = "source IN (SELECT value FROM json_each(?))"


def bm25_terms(query: str) -> list[str]:
    """The words of a query that BM25 searches for: lower-cased, stop words left out, each once."""
    return list(dict.fromkeys(t for t in TOKEN.findall(query.lower()) if t not in STOPWORDS))


class Searches:
    """Search and chunk reads of the local store (a mixin: the Store holds the database and the vectors)."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    vectors: VectorIndex
    _sync: Callable[[], None]  # the Store's: brings the vectors up to date with the database

    def chunks(self, keys: list[int]) -> dict[int, Chunk]:
        """The chunks with these keys."""
        found: dict[int, Chunk] = {}
        for at in range(0, len(keys), SQL_PARAMETERS):
            part = list(keys[at:at + SQL_PARAMETERS])
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self._db.execute(
                    f'SELECT c.id, c.chunk_id, c.source, c.start, c."end", f.text FROM chunks c '
                    f"JOIN chunks_fts f ON f.rowid = c.id WHERE c.id IN ({marks})", part).fetchall()
            found.update({r[0]: Chunk(id=r[1], source=r[2], start=r[3], end=r[4], text=r[5]) for r in rows})
        return found

    def chunk_sources(self, sources: list[str]) -> dict[int, str]:
        """The key of every chunk of these documents, with its document's source."""
        with self._lock:
            rows = self._db.execute(f"SELECT id, source FROM chunks WHERE {IN_SCOPE}", (json.dumps(list(sources)),))
            return dict(rows.fetchall())

    def search_dense(self, queries: np.ndarray, k: int,
                     sources: list[str] | None = None) -> list[list[tuple[int, float]]]:
        """For each query vector, the (chunk key, cosine) of its `k` nearest chunks; with `sources`, of the nearest
        chunks of those documents, found by an exact search among their vectors alone."""
        within = None if sources is None else np.fromiter(self.chunk_sources(sources), dtype=np.int64)
        with self._lock:
            self._sync()
            scores, ids = self.vectors.search(queries, k, within)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def search_bm25(self, query: str, k: int, sources: list[str] | None = None) -> list[tuple[int, float]]:
        """The (chunk key, BM25 score) of the `k` best keyword matches, best first; with `sources`, among the
        chunks of those documents only (the terms' weights are still the whole index's)."""
        terms = bm25_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        if sources is None:
            sql, args = ("SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
                         "ORDER BY s LIMIT ?", (match, k))
        else:
            sql, args = ("SELECT f.rowid, bm25(chunks_fts) AS s FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
                         f"WHERE chunks_fts MATCH ? AND c.{IN_SCOPE} ORDER BY s LIMIT ?",
                         (match, json.dumps(list(sources)), k))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [(r[0], -r[1]) for r in rows]  # FTS5 scores are negated BM25
