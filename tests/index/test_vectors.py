"""The FAISS index kinds (flat, HNSW, IVF), the automatic choice by size, and the store's rebuilds.

Behaviour only: no timing is asserted here (benchmarks/bench_search.py measures speed and recall).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.index import vectors as vectors_mod
from qa.ingest.chunking import chunk_id
from qa.index.store import FAISS_NAME, MANIFEST_NAME, IndexSpec, Store, chunk_key
from qa.types import Chunk, Document
from qa.index.vectors import KINDS, VectorIndex, choose_kind

DIM = 16


def unit(rows: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def keyed(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(seed + 1).choice(2**59, size=rows, replace=False).astype(np.int64)
    return ids, unit(rows, seed)


def build(kind: str, ids: np.ndarray, vecs: np.ndarray) -> VectorIndex:
    return VectorIndex.build(kind, DIM, lambda: iter([(ids[i:i + 300], vecs[i:i + 300])
                                                      for i in range(0, len(ids), 300)]), len(ids))


@pytest.mark.parametrize("kind", KINDS)
def test_add_search_remove_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    ids, vecs = keyed(2000)
    index = build(kind, ids, vecs)
    assert index.kind == kind and len(index) == 2000

    scores, found = index.search(vecs[:20], 5)
    assert found.shape == (20, 5)
    assert (found[:, 0] == ids[:20]).mean() >= 0.9  # each vector finds itself (approximate kinds: nearly all)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first

    index.remove(ids[:10])
    assert len(index) == 1990
    _, found = index.search(vecs[:10], 5)
    assert not set(found.ravel()) & set(ids[:10].tolist())
    assert set(index.ids().tolist()) == set(ids[10:].tolist())

    # Adding under an id that was removed (a changed document keeps its chunk keys) works.
    index.add(ids[:1], vecs[:1])
    assert len(index) == 1991
    assert index.search(vecs[:1], 1)[1][0, 0] == ids[0]

    path = tmp_path / "v.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, DIM)
    assert loaded.kind == kind and len(loaded) == 1991
    assert loaded.params == index.params
    assert np.array_equal(loaded.search(vecs[:20], 5)[1], index.search(vecs[:20], 5)[1])
    with pytest.raises(RuntimeError):
        VectorIndex.load(path, DIM + 1)


@pytest.mark.parametrize("kind", KINDS)
def test_small_and_empty_indexes(kind: str) -> None:
    ids, vecs = keyed(30)
    index = build(kind, ids, vecs)
    assert len(index) == 30
    scores, found = index.search(vecs[:2], 100)  # k larger than the index
    assert found.shape[1] <= 30 and found[0, 0] == ids[0]
    index.remove(ids)
    assert len(index) == 0
    scores, found = index.search(vecs[:2], 5)
    assert found.shape == (2, 0)
    empty = VectorIndex.build(kind, DIM, lambda: iter([]), 0)
    assert len(empty) == 0 and empty.search(vecs[:1], 3)[1].shape == (1, 0)


def test_hnsw_removals_are_tombstones_until_a_rebuild_is_due() -> None:
    ids, vecs = keyed(500)
    index = build("hnsw", ids, vecs)
    index.remove(ids[:50])
    assert index.params["tombstones"] == 50 and not index.needs_rebuild
    index.remove(ids[50:150])
    assert index.needs_rebuild  # 150 of 500 removed: past HNSW_MAX_TOMBSTONES


def test_auto_choice_follows_size_with_hysteresis() -> None:
    t = vectors_mod.APPROX_THRESHOLD
    approx = vectors_mod.APPROX_KIND
    assert choose_kind(0) == "flat"
    assert choose_kind(t - 1) == "flat"
    assert choose_kind(t) == approx
    assert choose_kind(t - 1, current=approx) == approx  # no flip-flop just under the threshold
    assert choose_kind(t // 2 - 1, current=approx) == "flat"
    for kind in KINDS:
        assert choose_kind(10, kind) == kind and choose_kind(10 * t, kind) == kind
    with pytest.raises(ValueError):
        choose_kind(10, "annoy")


# ---- the store: the kind follows the size, is recorded, and is rebuilt once -------------------


def spec() -> IndexSpec:
    return IndexSpec(embedder="test", dimension=DIM, chunk_words=150, chunk_max_words=200,
                     chunk_overlap_words=30, cleaning_version=1, chunking_version=1)


def document(name: str, chunks: int, seed: int) -> tuple[Document, list[Chunk], np.ndarray]:
    text = " ".join(f"word{seed}x{i}" for i in range(chunks))
    doc = Document(source=name, text=text, content_hash=f"h{seed}")
    pieces, at = [], 0
    for word in text.split(" "):
        pieces.append(Chunk(chunk_id(name, at, at + len(word)), name, at, at + len(word), word))
        at += len(word) + 1
    return doc, pieces, unit(chunks, seed)


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(vectors_mod, "APPROX_THRESHOLD", 400)
    return 400


def count_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    original = VectorIndex.build.__func__

    def spy(cls, kind, *args, **kwargs):
        built.append(kind)
        return original(cls, kind, *args, **kwargs)

    monkeypatch.setattr(VectorIndex, "build", classmethod(spy))
    return built


def test_growing_across_the_threshold_rebuilds_once(tmp_path: Path, small_threshold: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path, spec())
    built = count_builds(monkeypatch)
    for i in range(7):  # 7 writes of 100 chunks: 700 in all, crossing 400 once
        store.write([document(f"d{i}.txt", 100, i)])
        store.save()
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        want = "flat" if (i + 1) * 100 < small_threshold else vectors_mod.APPROX_KIND
        assert store.vectors.kind == manifest["index_type"] == want
        assert manifest["vectors"] == len(store.vectors) == (i + 1) * 100
    assert built == [vectors_mod.APPROX_KIND]

    # A changed document (remove + add) and a removed one keep the kind and do not rebuild.
    store.write([document("d0.txt", 80, 100)], removed=["d1.txt"])
    store.save()
    assert built == [vectors_mod.APPROX_KIND] and len(store.vectors) == 580
    doc, chunks, vecs = document("d0.txt", 80, 100)
    hits = store.search_dense(vecs[:5], 3)
    assert [h[0][0] for h in hits] == [chunk_key(c.id) for c in chunks[:5]]

    # Reopening loads the saved kind without a rebuild.
    store.close()
    store = Store.open(tmp_path, spec())
    assert store.vectors.kind == vectors_mod.APPROX_KIND and len(store.vectors) == 580
    assert built == [vectors_mod.APPROX_KIND]

    # Growing on: an IVF index is rebuilt (new lists) only when it has doubled since it was built.
    for i in range(7, 14):
        store.write([document(f"d{i}.txt", 100, i)])
        store.save()
    assert len(store.vectors) == 1280
    assert built == [vectors_mod.APPROX_KIND] * (2 if vectors_mod.APPROX_KIND == "ivf" else 1)
    store.close()


def test_shrinking_goes_back_to_flat_below_half_the_threshold(tmp_path: Path, small_threshold: int) -> None:
    store = Store.open(tmp_path, spec())
    store.write([document(f"d{i}.txt", 100, i) for i in range(5)])
    store.save()
    assert store.vectors.kind == vectors_mod.APPROX_KIND
    store.write([], removed=["d0.txt", "d1.txt"])  # 300 left: under the threshold, over half of it
    store.save()
    assert store.vectors.kind == vectors_mod.APPROX_KIND
    store.write([], removed=["d2.txt", "d3.txt"])  # 100 left
    store.save()
    assert store.vectors.kind == "flat" and len(store.vectors) == 100
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_setting_overrides_the_choice_and_a_change_rebuilds_from_sqlite(tmp_path: Path, kind: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path, spec(), index_type=kind)
    docs = [document(f"d{i}.txt", 50, i) for i in range(3)]
    store.write(docs)
    store.save()
    assert store.vectors.kind == kind
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["index_type"] == kind
    store.close()

    built = count_builds(monkeypatch)
    other = "flat" if kind != "flat" else "hnsw"
    reopened = Store.open(tmp_path, spec(), index_type=other)  # the setting changed: rebuilt, not re-embedded
    assert built == [other] and reopened.vectors.kind == other and len(reopened.vectors) == 150
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["index_type"] == other
    _, chunks, vecs = docs[1]
    assert reopened.search_dense(vecs[:1], 1)[0][0][0] == chunk_key(chunks[0].id)
    reopened.close()


def test_hnsw_store_compacts_tombstones_from_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path, spec(), index_type="hnsw")
    store.write([document(f"d{i}.txt", 100, i) for i in range(4)])
    store.save()
    built = count_builds(monkeypatch)
    store.write([], removed=["d0.txt"])  # 100 of 400: past the tombstone share
    store.save()
    assert built == ["hnsw"] and store.vectors.params["tombstones"] == 0 and len(store.vectors) == 300
    store.close()


def test_missing_or_damaged_file_is_rebuilt_in_the_right_kind(tmp_path: Path, small_threshold: int) -> None:
    store = Store.open(tmp_path, spec())
    store.write([document(f"d{i}.txt", 100, i) for i in range(5)])
    store.save()
    store.close()
    (tmp_path / FAISS_NAME).write_bytes(b"not a faiss index")
    reopened = Store.open(tmp_path, spec())
    assert reopened.vectors.kind == vectors_mod.APPROX_KIND and len(reopened.vectors) == 500
    reopened.close()
    (tmp_path / FAISS_NAME).unlink()
    again = Store.open(tmp_path, spec())
    assert again.vectors.kind == vectors_mod.APPROX_KIND and len(again.vectors) == 500
    again.close()


def test_ivf_built_empty_trains_on_first_vectors_and_rebuilds_only_geometrically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path, spec(), index_type="ivf")  # forced IVF from an empty index
    built = count_builds(monkeypatch)
    for i in range(20):
        store.write([document(f"d{i}.txt", 100, i)])
        store.save()
        assert store.vectors.kind == "ivf" and len(store.vectors) == (i + 1) * 100
    # 2,000 vectors in 20 saves: rebuilt as it doubles (200, 400, 800, 1,600), not at every save.
    assert 1 <= len(built) <= 5
    _, chunks, vecs = document("d7.txt", 100, 7)
    assert store.search_dense(vecs[:1], 1)[0][0][0] == chunk_key(chunks[0].id)
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_search_within_ids_is_exact_for_every_kind(kind: str) -> None:
    ids, vecs = keyed(3000)
    index = build(kind, ids, vecs)
    index.remove(ids[:5])  # a removed vector (an HNSW tombstone) is never found, even when asked for
    within = ids[:40]
    queries = unit(6, seed=9)
    scores, found = index.search(queries, 10, within)
    exact = queries @ vecs[5:40].T  # what an exhaustive search of the live vectors within gives
    order = np.argsort(-exact, axis=1)[:, :10]
    assert (found == ids[5:40][order]).all()
    assert np.allclose(scores, np.take_along_axis(exact, order, axis=1), atol=1e-5)
    scores, found = index.search(queries[:1], 100, ids[:3])  # all removed: nothing
    assert (found < 0).all() or found.size == 0
    assert index.search(queries, 5, np.zeros(0, dtype=np.int64))[1].shape == (6, 0)
