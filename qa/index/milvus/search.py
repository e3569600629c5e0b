"""The Milvus store's reads by search: dense and BM25, over the whole index or within a scope of documents (a filter
expression on the source, so that Milvus searches inside the scope), and the chunks they find. A mixin of
`qa.index.milvus.store.MilvusStore`."""

from __future__ import annotations

import numpy as np

from qa.errors import IndexError_
from qa.index.fts_terms import fts_terms
from qa.index.milvus import schema as ms
from qa.index.search import bm25_terms
from qa.types import Chunk

MAX_TOPK = 16_384  # the most hits Milvus returns to one search
SCOPE_SOURCES = 500  # sources a filter expression names; a larger scope is searched in parts, merged by score
KEYS = 1000  # chunk keys a query names


def _in_scope(sources: list[str] | None) -> list[str]:
    """Filter expressions that together cover the scope; one empty expression (everything) without one."""
    if sources is None:
        return [""]
    return [f"source in {ms.literal(sources[at:at + SCOPE_SOURCES])}" for at in range(0, len(sources), SCOPE_SOURCES)]


def _best(parts: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """The `k` best of several searches' (key, score) lists, best first."""
    return sorted((hit for part in parts for hit in part), key=lambda hit: -hit[1])[:k]


class MilvusSearches:
    """Search and chunk reads of the Milvus store (a mixin: the store holds the client)."""

    def chunks(self, keys: list[int]) -> dict[int, Chunk]:
        """The chunks with these keys whose document is wholly written."""
        rows = []
        for at in range(0, len(keys), KEYS):
            rows += self._query(ms.CHUNKS, f"id in {ms.literal([int(k) for k in keys[at:at + KEYS]])}",
                                ["chunk_id", "source", "start_char", "end_char", "content_hash", "text"])
        heads = {r["source"]: r["content_hash"] for r in self._heads(sorted({r["source"] for r in rows}))}
        return {r["id"]: Chunk(id=r["chunk_id"], source=r["source"], start=r["start_char"], end=r["end_char"],
                               text=r["text"])
                for r in rows if heads.get(r["source"]) == r["content_hash"]}

    def chunk_sources(self, sources: list[str]) -> dict[int, str]:
        """The key of every chunk of these documents, with its document's source."""
        return {int(r["id"]): r["source"] for scope in _in_scope(list(sources))
                for r in self._scan(ms.CHUNKS, scope, ["id", "source"])}

    def search_dense(self, queries: np.ndarray, k: int,
                     sources: list[str] | None = None) -> list[list[tuple[int, float]]]:
        """For each unit query vector, the (chunk key, inner product) of its `k` nearest chunks (at most
        `MAX_TOPK`); with `sources`, of the nearest chunks of those documents."""
        kind = self._meta("dense_index") or "flat"
        data = np.asarray(queries, dtype=np.float32).tolist()
        k = min(k, MAX_TOPK)
        parts = []
        with ms.milvus_errors(self.uri, "search"):
            for scope in _in_scope(None if sources is None else list(sources)):
                found = self.client.search(ms.CHUNKS, data=data, anns_field="vector", limit=k, filter=scope,
                                           output_fields=["id"], search_params=ms.dense_search_params(kind))
                parts.append([[(int(h["id"]), float(h["distance"])) for h in hits] for hits in found])
        return [_best([part[q] for part in parts], k) for q in range(len(data))]

    def search_bm25(self, query: str, k: int, sources: list[str] | None = None) -> list[tuple[int, float]]:
        """The (chunk key, BM25 score) of the `k` best keyword matches (at most `MAX_TOPK`), best first, by the
        local store's terms; with `sources`, among the chunks of those documents only."""
        if not self.bm25:
            raise IndexError_(f"the Milvus server at {self.uri} has no BM25: use --retrieval dense")
        # The chunks' terms are stemmed: the question's are made alike.
        terms = " ".join(dict.fromkeys(fts_terms([" ".join(bm25_terms(query))])[0].split()))
        if not terms:
            return []
        k = min(k, MAX_TOPK)
        parts = []
        with ms.milvus_errors(self.uri, "search"):
            for scope in _in_scope(None if sources is None else list(sources)):
                found = self.client.search(ms.CHUNKS, data=[terms], anns_field="sparse", limit=k, filter=scope,
                                           output_fields=["id"], search_params={"metric_type": "BM25"})
                # Milvus Lite 3 negates BM25 scores (best first still); servers and Lite 2.5 give them positive.
                parts.append([(int(h["id"]), abs(float(h["distance"]))) for h in found[0]])
        return _best(parts, k)
