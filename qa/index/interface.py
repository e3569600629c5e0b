"""What the indexer, retriever and assistant need of an index: the contract both backends keep.

`qa.index.store.Store` (SQLite + FAISS, one machine) and `qa.index.milvus.store.MilvusStore` (Milvus Lite or a
Milvus server) satisfy it; `qa.index.indexer.open_store` picks one from the `store` setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from qa.index.store import DocumentInfo, IndexSpec
from qa.types import Chunk, Document, Signature


@runtime_checkable
class IndexStore(Protocol):
    """A persisted index: documents with their cleaned text, chunks, their vectors and a BM25 index."""

    spec: IndexSpec

    def corpus(self) -> Path | None:
        """The corpus folder this index holds, or None when it has not recorded one."""

    def record_corpus(self, corpus: Path) -> None:
        """Record the corpus folder this index holds."""

    def documents(self, limit: int | None = None) -> dict[str, DocumentInfo]:
        """The indexed documents by source, in order of source; all of them, or the first `limit`."""

    def summary(self) -> tuple[int, int, float | None]:
        """(documents, chunks, when a document was last indexed)."""

    def document_text(self, source: str) -> str | None:
        """The cleaned text of an indexed document, which answer offsets refer to."""

    def document_heads(self, sources: list[str], chars: int) -> dict[str, str]:
        """The first `chars` characters of each of these indexed documents, by source."""

    def content_hash(self, source: str) -> str | None:
        """The hash of an indexed document's file as it was indexed, or None."""

    def file_stats(self) -> dict[str, Signature]:
        """The signature each indexed file had when its hash was last checked."""

    def file_stat(self, source: str) -> Signature | None:
        """`file_stats` for one file."""

    def record_file_stats(self, stats: list[tuple[str, Signature]]) -> None:
        """Remember the signatures of files whose content matches the index."""

    def chunk_count(self) -> int:
        """How many chunks are indexed."""

    def chunks(self, keys: list[int]) -> dict[int, Chunk]:
        """The chunks with these keys (`qa.index.store.chunk_key`)."""

    def chunk_sources(self, sources: list[str]) -> dict[int, str]:
        """The key of every chunk of these documents, with its document's source."""

    def search_dense(self, queries: np.ndarray, k: int,
                     sources: list[str] | None = None) -> list[list[tuple[int, float]]]:
        """For each unit query vector, the (chunk key, inner product) of its `k` nearest chunks.

        With `sources`, the search runs inside the scope (not a filter after a search of everything): the `k`
        nearest chunks of those documents, however far the rest of the index comes before them."""

    def search_bm25(self, query: str, k: int, sources: list[str] | None = None) -> list[tuple[int, float]]:
        """The (chunk key, BM25 score, higher is better) of the `k` best keyword matches, best first; with
        `sources`, the best among the chunks of those documents, searched inside the scope."""

    def write(self, documents: list[tuple[Document, list[Chunk], np.ndarray]], removed: list[str] = ()) -> None:
        """Replace these documents' chunks and drop the removed ones."""

    def save(self) -> None:
        """Make the writes so far durable and their indexes current."""

    def clear(self) -> None:
        """Remove every document (for a rebuild)."""

    def close(self) -> None:
        """Release the index."""
