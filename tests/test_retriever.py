"""qa.retriever: dense, BM25 and hybrid retrieval, fused by reciprocal rank."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Settings
from qa.embedder import Embedder
from qa.indexer import open_store, refresh
from qa.retriever import Retriever, reciprocal_rank_fusion
from qa.store import Store

QUESTIONS = [
    ("How tall is the Old Harbour Lighthouse?", "lighthouse.txt"),
    ("Who was the last keeper of the lighthouse?", "lighthouse.txt"),
    ("Who founded Rosen's Bakery?", "bakery.md"),
    ("What is the bakery known for?", "bakery.md"),
    ("When does the kite festival take place?", "notes/festival.html"),
    ("What trophy is given for the largest kite?", "notes/festival.html"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Store:
    """tests/data/tiny in small chunks, so that there are more chunks than top_k."""
    root = tmp_path_factory.mktemp("retriever")
    shutil.copytree(Path(__file__).parent / "data" / "tiny", root / "corpus")
    s = Settings.load(corpus=root / "corpus", index_dir=root / "index", chunk_words=15, chunk_max_words=25,
                      chunk_overlap_words=0)
    st = open_store(s, embedder)
    refresh(st, embedder, s)
    assert st.chunk_count() >= 8
    yield st
    st.close()


# ---- fusion arithmetic ---------------------------------------------------------------------------

def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([[10, 20, 30], [30, 10]], k=60))
    assert fused[10] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[20] == pytest.approx(1 / 62)
    assert fused[30] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_best_first_and_uses_k() -> None:
    assert [key for key, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 2, 1], [2]], k=60)] == [2, 1, 3]
    # A small k rewards the top of a single list more than agreement lower down.
    assert [key for key, _ in reciprocal_rank_fusion([[1, 2, 3, 4], [5, 6, 7, 4]], k=1)][0] in (1, 5)
    assert [key for key, _ in reciprocal_rank_fusion([[1, 2, 3, 4], [5, 6, 7, 4]], k=1000)][0] == 4
    assert reciprocal_rank_fusion([], k=60) == []
    assert reciprocal_rank_fusion([[7]], k=0) == [(7, 1.0)]


# ---- retrieval -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_the_right_document_comes_first(store: Store, embedder: Embedder, mode: str) -> None:
    retriever = Retriever(store, embedder, mode=mode)
    for question, source in QUESTIONS:
        hits = retriever.run(question, top_k=3)
        assert hits, (mode, question)
        assert hits[0].chunk.source == source, (mode, question, [h.chunk.text for h in hits])


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_hits_carry_their_ranks_and_fused_scores(store: Store, embedder: Embedder, mode: str) -> None:
    retriever = Retriever(store, embedder, mode=mode, rrf_k=60)
    hits = retriever.run("Who built the lighthouse on Gull Point?", top_k=5)
    assert hits
    for hit in hits:
        if mode == "dense":
            assert hit.dense_rank is not None and hit.bm25_rank is None
        if mode == "bm25":
            assert hit.bm25_rank is not None and hit.dense_rank is None
        expected = sum(1 / (60 + r) for r in (hit.dense_rank, hit.bm25_rank) if r is not None)
        assert hit.score == pytest.approx(expected)
        assert store.chunks([int(hit.chunk.id[:15], 16)])  # a real stored chunk
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)
    if mode == "hybrid":
        assert any(h.dense_rank and h.bm25_rank for h in hits)


def test_hybrid_fuses_both_rankings(store: Store, embedder: Embedder) -> None:
    question = "Who was the keeper of the lighthouse?"
    hybrid = Retriever(store, embedder, mode="hybrid", candidates=30).run(question, top_k=30)
    dense = Retriever(store, embedder, mode="dense", candidates=30).run(question, top_k=30)
    bm25 = Retriever(store, embedder, mode="bm25", candidates=30).run(question, top_k=30)
    d_rank = {h.chunk.id: i for i, h in enumerate(dense, 1)}
    b_rank = {h.chunk.id: i for i, h in enumerate(bm25, 1)}
    expected = reciprocal_rank_fusion([[*d_rank], [*b_rank]], k=60)
    assert [(h.chunk.id, h.score) for h in hybrid] == [(key, pytest.approx(score)) for key, score in expected]
    for h in hybrid:
        assert h.dense_rank == d_rank.get(h.chunk.id) and h.bm25_rank == b_rank.get(h.chunk.id)


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_top_k_is_respected(store: Store, embedder: Embedder, top_k: int) -> None:
    for mode in ("hybrid", "dense"):
        assert len(Retriever(store, embedder, mode=mode).run("lighthouse", top_k=top_k)) == top_k


def test_top_k_above_the_candidates_and_the_index(store: Store, embedder: Embedder) -> None:
    retriever = Retriever(store, embedder, mode="dense", candidates=3)
    assert len(retriever.run("bread", top_k=6)) == 6  # candidates grow to top_k
    assert len(retriever.run("bread", top_k=1000)) == store.chunk_count()


def test_questions_of_only_stop_words(store: Store, embedder: Embedder) -> None:
    assert Retriever(store, embedder, mode="bm25").run("what is the", top_k=5) == []
    hits = Retriever(store, embedder, mode="hybrid").run("what is the", top_k=5)
    assert len(hits) == 5 and all(h.bm25_rank is None for h in hits)


def test_batch_matches_single_questions(store: Store, embedder: Embedder) -> None:
    retriever = Retriever(store, embedder, mode="hybrid")
    questions = [q for q, _ in QUESTIONS[::2]]
    batch = retriever.run_batch(questions, top_k=3)
    assert len(batch) == len(questions)
    for question, hits in zip(questions, batch):
        single = retriever.run(question, top_k=3)
        assert [h.chunk.id for h in hits] == [h.chunk.id for h in single]


def test_a_copied_file_does_not_take_two_places(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent / "data" / "tiny", corpus)
    shutil.copy(corpus / "lighthouse.txt", corpus / "lighthouse (copy).txt")
    s = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    st = open_store(s, embedder)
    refresh(st, embedder, s)
    for mode in ("hybrid", "dense", "bm25"):
        hits = Retriever(st, embedder, mode).run("Who built the Old Harbour Lighthouse?", top_k=3)
        texts = [h.chunk.text for h in hits]
        assert hits[0].chunk.source in ("lighthouse.txt", "lighthouse (copy).txt")
        assert len(texts) == len(set(texts)), mode  # the copy's chunks leave room for other passages
        assert len(texts) == 3 or mode == "bm25"  # BM25 finds only the two lighthouse files
    st.close()
