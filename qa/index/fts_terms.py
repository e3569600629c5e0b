"""The terms SQLite's FTS5 tokenizer indexes for a text, in order: what the local store's BM25 counts.

Milvus Lite 3 has no stemming analyzer, and a server's `english` one is not FTS5's porter stemmer, so
a Milvus BM25 over the raw text ranks passages otherwise than the local store does
(benchmarks/README.md, "Milvus and Ray"). Milvus is given these terms instead, joined by spaces, for its
standard tokenizer to split again; the same tokenizer (`index_schema.FTS_TOKENIZER`) makes both.
"""

from __future__ import annotations

import sqlite3
import threading
from functools import cache

from qa.index.schema import FTS_TOKENIZER


class FtsTerms:
    """Texts to FTS5's terms, through an in-memory FTS5 table and its fts5vocab view of term instances."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{FTS_TOKENIZER}')")
        self._db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[str]:
        """Each text's terms (lower-cased, unaccented, stemmed), in the text's order, joined by spaces."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM t")
            self._db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", enumerate(texts))
            rows = self._db.execute("SELECT doc, term FROM v ORDER BY doc, offset").fetchall()
        terms: list[list[str]] = [[] for _ in texts]
        for doc, term in rows:
            terms[doc].append(term)
        return [" ".join(t) for t in terms]


@cache
def _shared() -> FtsTerms:
    return FtsTerms()


def fts_terms(texts: list[str]) -> list[str]:
    """Each text's FTS5 terms joined by spaces (`FtsTerms`), through one table made on first use."""
    return _shared()(texts)
