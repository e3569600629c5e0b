"""Dense FAISS search and BM25, fused by reciprocal rank; returns `Hit`s."""

from __future__ import annotations

from qa.embedder import Embedder
from qa.store import Store
from qa.types import Hit


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class Retriever:
    """Finds the passages most likely to answer a question."""

    def __init__(self, store: Store, embedder: Embedder, mode: str = "hybrid", candidates: int = 30,
                 rrf_k: int = 60) -> None:
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.candidates = candidates
        self.rrf_k = rrf_k

    def run(self, question: str, top_k: int = 5) -> list[Hit]:
        """The `top_k` best passages for one question."""
        return self.run_batch([question], top_k)[0]

    def run_batch(self, questions: list[str], top_k: int = 5) -> list[list[Hit]]:
        """The `top_k` best passages for each question; dense queries are embedded and searched together."""
        n = max(self.candidates, top_k)
        dense: list[list[int]] = [[] for _ in questions]
        if self.mode in ("hybrid", "dense"):
            vectors = self.embedder.embed(questions)
            dense = [[key for key, _ in row] for row in self.store.search_dense(vectors, n)]
        keyword: list[list[int]] = [[] for _ in questions]
        if self.mode in ("hybrid", "bm25"):
            keyword = [[key for key, _ in self.store.search_bm25(q, n)] for q in questions]
        results = []
        for d, b in zip(dense, keyword):
            # Twice as many as needed: a copy of a file gives chunks of the same text, read once.
            fused = reciprocal_rank_fusion([r for r in (d, b) if r], self.rrf_k)[:2 * top_k]
            chunks = self.store.chunks([key for key, _ in fused])
            d_rank = {key: i + 1 for i, key in enumerate(d)}
            b_rank = {key: i + 1 for i, key in enumerate(b)}
            hits, seen = [], set()
            for key, score in fused:
                if len(hits) == top_k:
                    break
                if key in chunks and chunks[key].text not in seen:
                    seen.add(chunks[key].text)
                    hits.append(Hit(chunks[key], score, d_rank.get(key), b_rank.get(key)))
            results.append(hits)
        return results
