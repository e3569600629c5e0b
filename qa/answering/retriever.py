"""Dense FAISS search and BM25, fused by a weighted sum of their scaled scores; returns `Hit`s."""

from __future__ import annotations

from dataclasses import replace

from qa.config import Settings
from qa.models.embedder import Embedder
from qa.index.interface import IndexStore
from qa.types import Chunk, Hit

# Chunks one search of `Retriever.run_each` ranks: under Milvus's cap of 16,384 hits a search, so that none is cut.
EACH_SEARCH_CHUNKS = 10_000


def fuse(rankings: list[list[tuple[int, float]]], weights: list[float]) -> list[tuple[int, float]]:
    """Fuse scored rankings, best first: each list's scores are scaled to [0, 1] (min-max), then weighted and summed.

    Scores, unlike ranks, keep the margin by which a passage leads: reciprocal rank fusion, which
    this replaces, scored a clear first place in one ranking like a narrow one (README.md, "Measured figures").
    """
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        if not ranking:
            continue
        low = min(s for _, s in ranking)
        spread = max(s for _, s in ranking) - low
        for key, s in ranking:
            fused[key] = fused.get(key, 0.0) + weight * ((s - low) / spread if spread > 0 else 1.0)
    return sorted(fused.items(), key=lambda kv: -kv[1])


class Retriever:
    """Finds the passages most likely to answer a question."""

    def __init__(self, store: IndexStore, embedder: Embedder, mode: str = "hybrid",
                 candidates: int = Settings.candidates, dense_weight: float = Settings.dense_weight,
                 min_score_ratio: float = 0.0) -> None:
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.min_score_ratio = min_score_ratio

    def run(self, question: str, top_k: int = 5, sources: list[str] | None = None) -> list[Hit]:
        """The best passages for one question: at most `top_k`, none below `min_score_ratio` of the best; with
        `sources`, from those documents only (searched inside them)."""
        return self.run_batch([question], top_k, sources)[0]

    def run_batch(self, questions: list[str], top_k: int = 5, sources: list[str] | None = None) -> list[list[Hit]]:
        """`run` for each question; dense queries are embedded and searched together."""
        n = max(self.candidates, top_k)
        dense: list[list[tuple[int, float]]] = [[] for _ in questions]
        if self.mode in ("hybrid", "dense"):
            dense = self.store.search_dense(self.embedder.embed(questions), n, sources)
        keyword: list[list[tuple[int, float]]] = [[] for _ in questions]
        if self.mode in ("hybrid", "bm25"):
            keyword = [self.store.search_bm25(q, n, sources) for q in questions]
        return [self.rank(d, b, top_k) for d, b in zip(dense, keyword)]

    def run_each(self, question: str, sources: list[str], top_k: int = 5) -> dict[str, list[Hit]]:
        """`run` for one question within each of these documents alone, as `run(question, top_k, [source])` gives
        it for each, but batched: one embedding, a search of each kind over up to `EACH_SEARCH_CHUNKS` chunks of
        the documents at once (every chunk ranked, then grouped by document), and one read of the chunks."""
        owner = self.store.chunk_sources(sources)
        per_document = max(self.candidates, top_k)  # as `run` searches one document
        query = self.embedder.embed([question]) if self.mode in ("hybrid", "dense") and owner else None
        dense: dict[str, list[tuple[int, float]]] = {}
        keyword: dict[str, list[tuple[int, float]]] = {}
        for part, n in _parts(sources, owner):
            if query is not None:
                dense.update(_by_source(self.store.search_dense(query, n, part)[0], owner, per_document))
            if self.mode in ("hybrid", "bm25"):
                keyword.update(_by_source(self.store.search_bm25(question, n, part), owner, per_document))
        fused = [fuse([dense.get(s, []), keyword.get(s, [])], self._weights())[:2 * top_k] for s in sources]
        chunks = self.store.chunks([key for ranking in fused for key, _ in ranking])
        return {s: self.rank(dense.get(s, []), keyword.get(s, []), top_k, chunks) for s in sources}

    def _weights(self) -> list[float]:
        return [self.dense_weight, 1.0 - self.dense_weight] if self.mode == "hybrid" else [1.0, 1.0]

    def rank(self, dense: list[tuple[int, float]], keyword: list[tuple[int, float]], top_k: int,
             chunks: dict[int, Chunk] | None = None) -> list[Hit]:
        """One question's hits (at most `top_k`) from its dense and BM25 (chunk key, score) lists; `chunks`, when
        given, holds those it needs (else they are read from the store)."""
        # Twice as many as needed: a copy of a file gives chunks of the same text, read once.
        fused = fuse([dense, keyword], self._weights())[:2 * top_k]
        if chunks is None:
            chunks = self.store.chunks([key for key, _ in fused])
        d_rank = {key: (i + 1, s) for i, (key, s) in enumerate(dense)}
        b_rank = {key: (i + 1, s) for i, (key, s) in enumerate(keyword)}
        by_text: dict[str, Hit] = {}  # in rank order; a copy's text is read once
        for key, score in fused:
            if key not in chunks:
                continue
            chunk, held = chunks[key], by_text.get(chunks[key].text)
            if held is None and len(by_text) < top_k:
                (dr, ds), (br, bs) = d_rank.get(key, (None, None)), b_rank.get(key, (None, None))
                by_text[chunk.text] = Hit(chunk, score, dr, br, ds, bs)
            elif held is not None and (chunk.source, chunk.start) < (held.chunk.source, held.chunk.start):
                # Copies score alike, so which came first is chance: cite the first file by name, every time.
                by_text[chunk.text] = replace(held, chunk=chunk)
        hits = list(by_text.values())
        # Passages far below the best seldom hold the answer, and each costs the reader as much as the best.
        return [h for h in hits if h.score >= self.min_score_ratio * hits[0].score]


def _parts(sources: list[str], owner: dict[int, str]) -> list[tuple[list[str], int]]:
    """The documents that have chunks, in parts of at most `EACH_SEARCH_CHUNKS` chunks (a larger document alone),
    each with its chunk count: what one search ranks whole, under any store's cap on the hits of a search."""
    counts: dict[str, int] = {}
    for source in owner.values():
        counts[source] = counts.get(source, 0) + 1
    parts: list[tuple[list[str], int]] = []
    part, n = [], 0
    for source in sources:
        if not (count := counts.get(source, 0)):
            continue
        if part and n + count > EACH_SEARCH_CHUNKS:
            parts.append((part, n))
            part, n = [], 0
        part.append(source)
        n += count
    return [*parts, (part, n)] if part else parts


def _by_source(ranking: list[tuple[int, float]], owner: dict[int, str], k: int) -> dict[str, list[tuple[int, float]]]:
    """A ranking split by document, each document's best `k` in order."""
    grouped: dict[str, list[tuple[int, float]]] = {}
    for key, score in ranking:
        if (source := owner.get(key)) is not None and len(kept := grouped.setdefault(source, [])) < k:
            kept.append((key, score))
    return grouped
