"""Assistant.ask_each (qa.answering.each): one question asked of every document alone, batched across documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.pipeline import Assistant

QUESTION = "Who founded it?"


def test_one_answer_per_document_in_order_each_as_if_asked_of_it_alone(tiny_corpus: Path, tmp_path: Path,
                                                                        reader_model: str) -> None:
    a = Assistant(tiny_corpus, tmp_path / "index", reader_model=reader_model, answer_threshold=0.0)
    answers = a.ask_each(QUESTION)
    documents = list(a.documents())
    assert len(documents) == 3 and [x.scope for x in answers] == [[d] for d in documents]
    for doc, answer in zip(documents, answers):
        alone = a.ask(QUESTION, sources=[doc])
        assert answer.source == doc and answer.text == alone.text and answer.start == alone.start
        assert answer.score == pytest.approx(alone.score, abs=1e-4)
        assert a.document_text(doc)[answer.start:answer.end] == answer.text
        assert {h.chunk.source for h in answer.passages} == {doc} and answer.error is None
    assert [x.scope for x in a.ask_each(QUESTION, sources="*.md")] == [["bakery.md"]]
    strict = Assistant(tiny_corpus, tmp_path / "index", reader_model=reader_model, answer_threshold=1.0)
    declined = strict.ask_each(QUESTION)  # an abstention is a row too, its document named by its scope
    assert [x.scope for x in declined] == [[d] for d in documents] and all(x.text == "" for x in declined)
    assert all(x.alternatives and x.alternatives[0].source == d for x, d in zip(declined, documents))


def test_a_scope_of_a_thousand_documents_is_asked_in_batches(tmp_path: Path, reader_model: str) -> None:
    corpus = tmp_path / "corpus"
    names = ["Ada", "Bram", "Cleo", "Dov", "Edda", "Finn", "Gus", "Hana"]
    for i in range(1000):
        folder = corpus / f"fleet-{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"ship-{i:04d}.txt").write_text(f"The ship Gull {i} is captained by {names[i % 8]} Marsh. "
                                                  f"It sails from Marlow on Tuesdays.", encoding="utf-8")
    a = Assistant(corpus, tmp_path / "index", reader_model=reader_model, answer_threshold=0.0)
    a.index()
    statements: list[str] = []
    # Every SQL statement the question costs (FTS5's own, inside a statement, begin with "--").
    a.store._db.set_trace_callback(lambda sql: statements.append(sql) if not sql.startswith("--") else None)
    told: list[tuple[int, int]] = []
    answers = a.ask_each("Who captains the ship?", sources=["fleet-*/"], progress=lambda *p: told.append(p))
    a.store._db.set_trace_callback(None)
    documents = list(a.documents())
    assert len(answers) == 1000 and [x.scope for x in answers] == [[d] for d in documents]
    assert all(x.source == d and x.text for x, d in zip(answers, documents))
    assert len(statements) < 200, f"{len(statements)} statements: not batched across documents"
    assert told[-1] == (1000, 1000) and [d for d, _ in told] == sorted(d for d, _ in told) and len(told) > 1


def test_a_document_that_can_no_longer_be_read_shows_its_error_and_the_others_are_answered(
        tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    a = Assistant(tiny_corpus, tmp_path / "index", reader_model=reader_model, answer_threshold=0.0)
    assert all(x.source for x in a.ask_each(QUESTION))
    (tiny_corpus / "lighthouse.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40)  # now an image
    (tiny_corpus / "bakery.md").unlink()
    answers = a.ask_each(QUESTION)
    by_doc = {x.scope[0]: x for x in answers}
    assert list(by_doc) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]  # the rows asked for, in order
    assert "changed since it was indexed" in by_doc["lighthouse.txt"].error and "binary" in by_doc["lighthouse.txt"].error
    assert "removed from the corpus" in by_doc["bakery.md"].error
    assert all(by_doc[d].text == "" and by_doc[d].source is None for d in ("bakery.md", "lighthouse.txt"))
    festival = by_doc["notes/festival.html"]
    assert festival.error is None and festival.source == "notes/festival.html" and festival.text
