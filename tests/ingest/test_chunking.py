"""qa.ingest.chunking: sentence-aligned, overlapping chunks with exact offsets and stable ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest.chunking import chunk_document, chunk_id, sentence_spans
from qa.ingest.cleaning import clean_text
from qa.ingest.documents import find_files, read_document
from qa.types import Chunk, Document

WORD = re.compile(r"\S+")


def words(text: str) -> int:
    return len(WORD.findall(text))


@pytest.fixture(scope="module")
def seed_docs(seeds_dir: Path) -> list[Document]:
    return [read_document(seeds_dir, f.path) for f in find_files(seeds_dir)]


def check_offsets(doc: Document, chunks: list[Chunk]) -> None:
    for c in chunks:
        assert c.source == doc.source
        assert doc.text[c.start:c.end] == c.text
        assert c.text == c.text.strip() and c.text


def sentence_bounds(text: str) -> tuple[set[int], set[int]]:
    spans = sentence_spans(text)
    return {s for s, _ in spans}, {e for _, e in spans}


def test_seed_chunks_have_exact_offsets_are_sentence_aligned_and_sized(seed_docs: list[Document]) -> None:
    for doc in seed_docs:
        chunks = chunk_document(doc, words=150, max_words=200, overlap_words=30)
        check_offsets(doc, chunks)
        starts, ends = sentence_bounds(doc.text)
        for c in chunks:
            assert c.start in starts and c.end in ends, (doc.source, c.start, c.end)
            assert words(c.text) <= 200
        # Every chunk but a document's last reaches about the target size.
        for c in chunks[:-1]:
            assert words(c.text) >= 100, (doc.source, words(c.text))
        # Together the chunks cover every sentence.
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        for s, e in sentence_spans(doc.text):
            assert set(range(s, e)) <= covered


def test_consecutive_chunks_overlap_by_whole_sentences(seed_docs: list[Document]) -> None:
    boundaries = overlaps = 0
    for doc in seed_docs:
        chunks = chunk_document(doc, words=150, max_words=200, overlap_words=30)
        for a, b in zip(chunks, chunks[1:]):
            boundaries += 1
            assert a.start < b.start and a.end < b.end  # always moving forward
            last_start = max(s for s, _ in sentence_spans(a.text))
            if b.start < a.end:
                overlaps += 1
                shared = doc.text[b.start:a.end]
                assert words(shared) <= 75  # at most half a chunk
                assert any(a.start + s == b.start for s, _ in sentence_spans(a.text))  # whole sentences
                # More than the last sentence only while that brings the overlap nearer 30 words.
                if a.start + last_start != b.start:
                    assert words(doc.text[a.start + last_start:a.end]) < 30
            else:
                # No overlap only when the last sentence alone is over half a chunk.
                assert words(a.text[last_start:]) > 75
                assert doc.text[a.end:b.start].isspace()
    assert overlaps >= boundaries - 3 and overlaps >= 10


def test_short_sentences_overlap() -> None:
    text = " ".join(f"Short sentence {i} is here." for i in range(60))  # 5 words each
    doc = Document("short.txt", text, "h")
    chunks = chunk_document(doc, words=50, max_words=70, overlap_words=12)
    check_offsets(doc, chunks)
    assert len(chunks) >= 5
    for a, b in zip(chunks, chunks[1:]):
        shared = doc.text[b.start:a.end]
        assert b.start < a.end and words(shared) == 10  # two whole 5-word sentences
        assert shared.startswith("Short") and shared.endswith(".")


def test_no_overlap_setting_gives_disjoint_chunks(seed_docs: list[Document]) -> None:
    doc = seed_docs[0]
    chunks = chunk_document(doc, words=50, max_words=80, overlap_words=0)
    for a, b in zip(chunks, chunks[1:]):
        assert a.end <= b.start


def test_ids_are_stable_and_distinct(seed_docs: list[Document]) -> None:
    doc = seed_docs[1]
    first = chunk_document(doc)
    again = chunk_document(Document(doc.source, doc.text, doc.content_hash))
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    assert all(c.id == chunk_id(c.source, c.start, c.end) for c in first)
    # The id depends on the document too.
    other = chunk_document(Document("other.txt", doc.text, doc.content_hash))
    assert not {c.id for c in first} & {c.id for c in other}


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Mr. Smith met Dr. Jones at 9 a.m. on Main St. today. The meeting went well. U.S. law applies."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Mr. Smith met Dr. Jones at 9 a.m. on Main St. today.",
        "The meeting went well.",
        "U.S. law applies.",
    ]


def test_sentences_end_at_punctuation_quotes_and_paragraphs() -> None:
    text = 'He said "It is done." Then he left! Did he return? Yes.\n\nA heading\n\nNext paragraph'
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        'He said "It is done."', "Then he left!", "Did he return?", "Yes.", "A heading", "Next paragraph",
    ]


def test_a_chunk_never_splits_mr_from_the_name() -> None:
    body = " ".join(f"Sentence {i} says a few more words here." for i in range(30))
    text = f"{body} The prize went to Mr. Tang Ping-keung of the Security Bureau. {body}"
    doc = Document("mr.txt", text, "h")
    chunks = chunk_document(doc, words=40, max_words=60, overlap_words=10)
    check_offsets(doc, chunks)
    for c in chunks:
        assert not c.text.endswith("Mr.")
        assert not c.text.startswith("Tang Ping-keung")
    assert any("The prize went to Mr. Tang Ping-keung of the Security Bureau." in c.text for c in chunks)


def test_very_long_sentence_is_split_into_pieces_without_redundant_chunks() -> None:
    short = " ".join(f"Sentence number {i} has six words." for i in range(20))
    long = " ".join(f"w{i}" for i in range(450)) + "."
    text = f"{short} {long} The final short sentence ends here."
    doc = Document("long.txt", text, "h")
    chunks = chunk_document(doc, words=150, max_words=200, overlap_words=30)
    check_offsets(doc, chunks)
    assert all(words(c.text) <= 200 for c in chunks)
    # Every word of the long sentence is in some chunk.
    covered = set()
    for c in chunks:
        covered.update(WORD.findall(c.text))
    assert {f"w{i}" for i in range(449)} <= covered
    # No chunk lies inside another: each one adds text the previous did not have.
    for a, b in zip(chunks, chunks[1:]):
        assert b.start > a.start and b.end > a.end
    assert len(chunks) <= 6


def test_short_and_empty_documents() -> None:
    doc = Document("one.txt", "Just one sentence.", "h")
    assert [(c.start, c.end, c.text) for c in chunk_document(doc)] == [(0, 18, "Just one sentence.")]
    assert chunk_document(Document("none.txt", "", "h")) == []


PIECES = st.sampled_from(["Alpha", "beta", "gamma.", "Delta!", "eps?", "\n\n", "\n", "Mr.", "U.S.", "Z.", "x" * 40,
                          "(Note.)", "\u201cQuoted.\u201d", "2021.", "well-", "known", "\u00e2\u20ac\u2039", "\t"])


# Tests assert behaviour, not time: hypothesis's too_slow check would fail them on a busy machine.
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=600).map(" ".join), st.integers(8, 60), st.integers(0, 40))
def test_any_text_is_covered_by_exact_advancing_chunks(raw: str, size: int, overlap: int) -> None:
    doc = Document("any.txt", clean_text(raw), "h")
    chunks = chunk_document(doc, words=size, max_words=size + size // 3, overlap_words=overlap)
    check_offsets(doc, chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and a.end < b.end
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())  # no text is lost
