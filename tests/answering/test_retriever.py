"""qa.answering.retriever: dense, BM25 and hybrid retrieval, fused by scaled scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Settings
from qa.models.embedder import Embedder
from qa.index.indexer import open_store, refresh
from qa.answering.retriever import Retriever, fuse
from qa.index.store import Store, chunk_key

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
    shutil.copytree(Path(__file__).parents[1] / "data" / "tiny", root / "corpus")
    s = Settings.load(corpus=root / "corpus", index_dir=root / "index", chunk_words=15, chunk_max_words=25,
                      chunk_overlap_words=0)
    st = open_store(s, embedder)
    refresh(st, embedder, s)
    assert st.chunk_count() >= 8
    yield st
    st.close()


# ---- fusion arithmetic ---------------------------------------------------------------------------

def test_fusion_scales_each_ranking_then_weights_it() -> None:
    dense = [(10, 0.8), (20, 0.6), (30, 0.4)]
    bm25 = [(30, 12.0), (10, 4.0)]
    fused = dict(fuse([dense, bm25], [0.25, 0.75]))
    assert fused[10] == pytest.approx(0.25 * 1.0 + 0.75 * 0.0)
    assert fused[20] == pytest.approx(0.25 * 0.5)  # not found by BM25: nothing from it
    assert fused[30] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert [key for key, _ in fuse([dense, bm25], [0.25, 0.75])] == [30, 10, 20]


def test_fusion_sees_margins_that_ranks_hide() -> None:
    # Chunk 1 leads dense search by far and is a close second in BM25; chunk 2 is first in BM25 by a
    # hair and far down in dense search. Each is once first and once second, so ranks alone tie them.
    dense = [(1, 0.90), (2, 0.30), (3, 0.29)]
    bm25 = [(2, 10.0), (1, 9.9), (3, 1.0)]
    assert fuse([dense, bm25], [0.5, 0.5])[0][0] == 1


def test_fusion_of_single_or_flat_rankings() -> None:
    assert fuse([], []) == []
    assert fuse([[], []], [0.5, 0.5]) == []
    assert fuse([[(7, 3.0)], []], [1.0, 1.0]) == [(7, 1.0)]  # a lone score scales to 1
    assert fuse([[(1, 2.0), (2, 2.0)]], [1.0]) == [(1, 1.0), (2, 1.0)]
    only_dense = fuse([[(5, 0.9), (6, 0.1)], []], [0.45, 0.55])
    assert only_dense == [(5, pytest.approx(0.45)), (6, 0.0)]


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
    retriever = Retriever(store, embedder, mode=mode)
    hits = retriever.run("Who built the lighthouse on Gull Point?", top_k=5)
    assert hits
    assert hits[0].score == pytest.approx(1.0) or mode == "hybrid"  # a single ranking's best scales to 1
    for hit in hits:
        if mode == "dense":
            assert hit.dense_rank is not None and hit.bm25_rank is None
        if mode == "bm25":
            assert hit.bm25_rank is not None and hit.dense_rank is None
        assert 0.0 <= hit.score <= 1.0
        assert store.chunks([chunk_key(hit.chunk.id)])  # a real stored chunk
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)
    if mode == "hybrid":
        assert any(h.dense_rank and h.bm25_rank for h in hits)


def test_hybrid_fuses_both_rankings(store: Store, embedder: Embedder) -> None:
    question = "Who was the keeper of the lighthouse?"
    hybrid = Retriever(store, embedder, mode="hybrid", dense_weight=0.3).run(question, top_k=30)
    dense = store.search_dense(embedder.embed([question]), 30)[0]
    bm25 = store.search_bm25(question, 30)
    d_rank = {key: i for i, (key, _) in enumerate(dense, 1)}
    b_rank = {key: i for i, (key, _) in enumerate(bm25, 1)}
    expected = fuse([dense, bm25], [0.3, 0.7])
    assert [(chunk_key(h.chunk.id), h.score) for h in hybrid] == [(key, pytest.approx(score)) for key, score in expected]
    for h in hybrid:
        key = chunk_key(h.chunk.id)
        assert h.dense_rank == d_rank.get(key) and h.bm25_rank == b_rank.get(key)


def test_passages_far_below_the_best_are_not_kept(store: Store, embedder: Embedder) -> None:
    question = "Who founded Rosen's Bakery?"
    every = Retriever(store, embedder, mode="hybrid").run(question, top_k=8)
    assert len(every) == 8  # a ratio of 0 keeps top_k
    for ratio in (0.3, 0.5, 0.9):
        kept = Retriever(store, embedder, mode="hybrid", min_score_ratio=ratio).run(question, top_k=8)
        # the best passages, in order, down to the first below the ratio
        assert kept == [h for h in every if h.score >= ratio * every[0].score]
        assert kept[0] == every[0]
    assert len(Retriever(store, embedder, "hybrid", min_score_ratio=0.5).run(question, top_k=8)) < 8


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
    shutil.copytree(Path(__file__).parents[1] / "data" / "tiny", corpus)
    for name in ("lighthouse (copy).txt", "zz-lighthouse.txt", "notes/lighthouse.txt"):
        shutil.copy(corpus / "lighthouse.txt", corpus / name)
    s = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    st = open_store(s, embedder)
    refresh(st, embedder, s)
    for mode in ("hybrid", "dense", "bm25"):
        hits = Retriever(st, embedder, mode).run("Who built the Old Harbour Lighthouse?", top_k=3)
        texts = [h.chunk.text for h in hits]
        assert hits[0].chunk.source == "lighthouse (copy).txt", mode  # of identical copies, the first by name
        assert len(texts) == len(set(texts)), mode  # the copy's chunks leave room for other passages
        assert len(texts) == 3 or mode == "bm25"  # BM25 finds only the lighthouse files
    st.close()
