"""qa.index.interface: one suite that both backends pass, the local SQLite + FAISS store and Milvus Lite."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.ingest.chunking import chunk_document
from qa.models.embedder import Embedder
from qa.index.store import IndexMismatchError, IndexSpec, Store, chunk_key
from qa.index.interface import IndexStore
from qa.types import Chunk, Document

LIGHTHOUSE = ("The Old Harbour Lighthouse was built in 1871. Its keeper, Agnes Morrow, climbed its "
              "one hundred and twelve steps every evening to light the lamp. ") * 3
BAKERY = "Rosen's Bakery bakes sourdough rye before dawn. The ovens are fired with beech wood from Kessel."


def spec_for(model: Embedder, **changes: object) -> IndexSpec:
    spec = IndexSpec(embedder=model.model_name, dimension=model.dimension, chunk_words=40, chunk_max_words=60,
                     chunk_overlap_words=10, cleaning_version=1, chunking_version=1)
    return replace(spec, **changes)


@pytest.fixture(params=["local", "milvus"])
def opener(request: pytest.FixtureRequest, tmp_path: Path):
    """Opens the backend under test at a fresh place in tmp_path; the same place on every call."""
    opened: list[IndexStore] = []

    def open_(spec: IndexSpec) -> IndexStore:
        if request.param == "local":
            store = Store.open(tmp_path / "index", spec)
        else:
            from qa.index.milvus.store import MilvusStore

            store = MilvusStore.open(str(tmp_path / "index.db"), spec)
        opened.append(store)
        return store

    open_.backend = request.param
    yield open_
    for store in opened:
        try:
            store.close()
        except Exception:  # closed by the test already
            pass


def document(source: str, text: str) -> Document:
    return Document(source=source, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest())


def rows(embedder: Embedder, *docs: Document):
    out = []
    for doc in docs:
        chunks = chunk_document(doc, 40, 60, 10)
        out.append((doc, chunks, embedder.embed([c.text for c in chunks])))
    return out


def test_add_lists_documents_chunks_and_text(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    assert isinstance(store, IndexStore)
    written = rows(embedder, document("lighthouse.txt", LIGHTHOUSE), document("shop/bakery.md", BAKERY))
    store.write(written)
    store.save()
    docs = store.documents()
    assert list(docs) == ["lighthouse.txt", "shop/bakery.md"]
    n = sum(len(c) for _, c, _ in written)
    assert store.chunk_count() == n and store.summary()[:2] == (2, n)
    assert docs["lighthouse.txt"].chunks == len(written[0][1]) > 1
    assert store.content_hash("shop/bakery.md") == written[1][0].content_hash
    assert list(store.documents(limit=1)) == ["lighthouse.txt"]
    keys = [chunk_key(c.id) for c in written[0][1]]
    got = store.chunks(keys)
    assert [got[k] for k in keys] == written[0][1]  # ids, sources, offsets and text, exactly


def test_replace_and_delete_touch_only_that_document(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    old = rows(embedder, document("lighthouse.txt", LIGHTHOUSE), document("bakery.md", BAKERY))
    store.write(old)
    new_text = "The lighthouse is now a museum, open on Sundays from May to October."
    store.write(rows(embedder, document("lighthouse.txt", new_text)))
    old_keys = [chunk_key(c.id) for c in old[0][1]]
    assert store.chunks(old_keys) == {}
    assert store.document_text("lighthouse.txt") == new_text
    assert store.document_text("bakery.md") == BAKERY
    assert store.chunk_count() == 1 + len(old[1][1])
    store.write([], removed=["lighthouse.txt"])
    store.save()
    assert list(store.documents()) == ["bakery.md"]
    assert store.document_text("lighthouse.txt") is None and store.content_hash("lighthouse.txt") is None
    assert all(store.chunks([k]) == {} for k, _ in store.search_bm25("museum lighthouse", 10))
    assert store.chunk_count() == len(old[1][1])


def test_dense_search_finds_the_nearest_chunk_by_inner_product(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    written = rows(embedder, document("lighthouse.txt", LIGHTHOUSE), document("bakery.md", BAKERY))
    store.write(written)
    store.save()
    query = embedder.embed(["Which wood heats the bakery ovens?", "Who lights the lighthouse lamp?"])
    found = store.search_dense(query, 3)
    bakery_key = chunk_key(written[1][1][0].id)
    assert found[0][0][0] == bakery_key
    assert store.chunks([found[1][0][0]])[found[1][0][0]].source == "lighthouse.txt"
    # Scores are inner products of unit vectors, best first.
    exact = float(query[0] @ written[1][2][0])
    assert found[0][0][1] == pytest.approx(exact, abs=1e-4)
    assert [s for _, s in found[1]] == sorted((s for _, s in found[1]), reverse=True)


def test_bm25_search_ranks_keyword_matches_with_positive_scores(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    written = rows(embedder, document("lighthouse.txt", LIGHTHOUSE), document("bakery.md", BAKERY))
    store.write(written)
    found = store.search_bm25("Where is the beech wood from?", 5)
    assert found and found[0][0] == chunk_key(written[1][1][0].id)
    assert all(score > 0 for _, score in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert store.search_bm25("the of and", 5) == []  # stopwords alone match nothing, on both
    assert store.search_bm25("zeppelin", 5) == []


def test_bm25_matches_word_forms_as_the_local_store_does(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    written = rows(embedder, document("lighthouse.txt", LIGHTHOUSE), document("bakery.md", BAKERY))
    store.write(written)
    # Neither "lighthouses", "keepers" nor "climbing" is in the text; their stems are, on both backends.
    found = store.search_bm25("Which lighthouses' keepers were climbing?", 5)
    assert found and {key for key, _ in found} == {chunk_key(c.id) for c in written[0][1]}
    assert store.search_bm25("baking ovens", 5)[0][0] == chunk_key(written[1][1][0].id)


def test_document_text_round_trips_long_and_unusual_documents(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    long_text = " ".join(f"Sentence {i} says caf\u00e9 \u201cquoted\u201d \U0001F600." for i in range(3000))
    odd = document('notes/it\'s "odd" \\ name.txt', long_text)
    head = Chunk(id="ab" * 16, source=odd.source, start=0, end=60, text=long_text[:60])  # one: embedding all is slow
    store.write([(odd, [head], embedder.embed([head.text]))])
    assert len(long_text) > 40_000  # over a Milvus VARCHAR, in parts there
    assert store.document_text(odd.source) == long_text
    assert store.document_heads([odd.source, "missing.txt"], 20) == {odd.source: long_text[:20]}
    store.record_file_stats([(odd.source, (len(long_text), 1, 2))])
    assert store.file_stats() == {odd.source: (len(long_text), 1, 2)}
    assert store.file_stat(odd.source) == (len(long_text), 1, 2) and store.file_stat("x") is None
    store.record_corpus(Path("/some/corpus"))
    assert store.corpus() == Path("/some/corpus")


def test_an_index_of_other_settings_is_refused(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    store.write(rows(embedder, document("bakery.md", BAKERY)))
    store.close()
    for other in (spec_for(embedder, embedder="another-model"), spec_for(embedder, chunk_words=80)):
        with pytest.raises(IndexMismatchError) as exc:
            opener(other)
        if opener.backend == "milvus":  # it may serve others, so it is not dropped: the message says how
            assert "qa index --rebuild --store" in str(exc.value)
    reopened = opener(spec_for(embedder))
    assert list(reopened.documents()) == ["bakery.md"]
    assert np.isfinite(reopened.search_dense(embedder.embed(["bread"]), 1)[0][0][1])


def many_lighthouses(embedder: Embedder, count: int = 12) -> list:
    """`count` documents about lighthouses and keepers, then the bakery: a corpus where the bakery ranks last (it
    shares one word with them, "dawn")."""
    docs = [document(f"coast/light-{i:02d}.txt", f"Lighthouse {i} stands on the cape. Its keeper climbs the "
                                                 f"tower before dawn and lights the lamp of lighthouse {i}.")
            for i in range(count)]
    return rows(embedder, *docs, document("bakery.md", BAKERY))


def test_a_scoped_search_runs_inside_the_scope_not_after_it(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    written = many_lighthouses(embedder)
    store.write(written)
    store.save()
    bakery = {chunk_key(c.id) for c in written[-1][1]}
    query = embedder.embed(["Who lights the lamp of the lighthouse?"])
    # Searched everywhere, the bakery is nowhere near the top: a filter applied afterwards would find nothing.
    assert not bakery & {key for key, _ in store.search_dense(query, 3)[0]}
    assert not bakery & {key for key, _ in store.search_bm25("lighthouse keeper lamp dawn", 3)}
    found = store.search_dense(query, 3, sources=["bakery.md"])[0]
    assert [key for key, _ in found] == sorted(bakery)[:3] or {key for key, _ in found} == bakery
    everywhere = dict(store.search_dense(query, len(written) * 5)[0])
    assert all(score == pytest.approx(everywhere[key], abs=1e-4) for key, score in found)  # the same scores
    assert {key for key, _ in store.search_bm25("lighthouse keeper lamp dawn", 3, sources=["bakery.md"])} == bakery
    two = ["coast/light-03.txt", "bakery.md"]
    keys = {chunk_key(c.id): c.source for _, chunks, _ in written for c in chunks if c.source in two}
    assert store.chunk_sources(two) == keys
    assert {store.chunks([k])[k].source for k, _ in store.search_dense(query, 10, sources=two)[0]} == set(two)
    hits = store.search_bm25("keeper ovens", 10, sources=two)
    assert {key for key, _ in hits} == set(keys) and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_a_scope_of_many_names_and_an_empty_scope(opener, embedder: Embedder) -> None:
    store = opener(spec_for(embedder))
    written = many_lighthouses(embedder, 3)
    store.write(written)
    store.save()
    # Thousands of names (most not indexed), as a scope of a large folder passes them: one search, not one each.
    names = [f"elsewhere/{i:04d}.txt" for i in range(2000)] + ["bakery.md", "coast/light-01.txt"]
    query = embedder.embed(["Who lights the lamp?"])
    found = store.search_dense(query, 50, sources=names)[0]
    assert {store.chunks([k])[k].source for k, _ in found} == {"bakery.md", "coast/light-01.txt"}
    assert {store.chunks([k])[k].source for k, _ in store.search_bm25("lamp ovens", 50, sources=names)} == \
        {"bakery.md", "coast/light-01.txt"}
    assert set(store.chunk_sources(names).values()) == {"bakery.md", "coast/light-01.txt"}
    assert store.search_dense(query, 5, sources=[]) == [[]]
    assert store.search_bm25("lamp", 5, sources=[]) == [] and store.chunk_sources([]) == {}
    assert store.search_dense(query, 5, sources=["elsewhere/0001.txt"]) == [[]]
