"""qa.pipeline with a scope: `ask`, `answer()` and `retrieve` within chosen documents, and bad scopes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import pipeline
from qa.errors import ScopeError
from qa.pipeline import Assistant

SECURITY = "Who is the Hong Kong Secretary for Security who visited Shanghai in December?"
SECURITY_DOC = "004_d4ca66b6ff091c88.txt"
OTHER_DOC = "003_73176fa16a7afba8.txt"


@pytest.fixture(scope="module")
def assistant(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory, reader_model: str) -> Assistant:
    a = Assistant(seeds_dir, tmp_path_factory.mktemp("seeds-index"), reader_model=reader_model, answer_threshold=0.0)
    a.index()
    return a


def test_a_scoped_question_is_answered_from_the_chosen_document_only(assistant: Assistant) -> None:
    everywhere = assistant.retrieve(SECURITY)
    assert everywhere[0].chunk.source == SECURITY_DOC
    answer = assistant.ask(SECURITY, sources=[OTHER_DOC])
    assert answer.passages and {h.chunk.source for h in answer.passages} == {OTHER_DOC}
    assert answer.source == OTHER_DOC and all(a.source == OTHER_DOC for a in answer.alternatives)
    text = assistant.document_text(OTHER_DOC)
    assert text[answer.start:answer.end] == answer.text
    assert answer.scope == [OTHER_DOC] and answer.to_dict()["scope"] == [OTHER_DOC]
    assert assistant.ask(SECURITY).to_dict()["scope"] is None  # no scope: the whole corpus, said as null


def test_each_document_as_a_scope_gives_its_own_passages_ranked_among_themselves(assistant: Assistant) -> None:
    for doc in assistant.documents():  # the four that do not hold the answer too
        hits = assistant.retrieve(SECURITY, sources=[doc])
        assert hits and {h.chunk.source for h in hits} == {doc}
        assert min(h.dense_rank or 99 for h in hits) == 1 and min(h.bm25_rank or 99 for h in hits) == 1


def test_glob_patterns_and_the_whole_corpus_as_a_scope(assistant: Assistant) -> None:
    two = assistant.retrieve(SECURITY, sources=["00[34]_*.txt"], top_k=10)
    assert {h.chunk.source for h in two} <= {SECURITY_DOC, OTHER_DOC} and two[0].chunk.source == SECURITY_DOC
    assert assistant.scope_documents("00[34]_*") == [OTHER_DOC, SECURITY_DOC]
    assert assistant.scope_documents(None) is None
    everything = assistant.ask(SECURITY, sources="*.txt")
    plain = assistant.ask(SECURITY)
    assert (everything.text, everything.source, everything.start) == (plain.text, plain.source, plain.start)
    assert everything.scope == ["*.txt"]


def test_answer_takes_a_scope(monkeypatch: pytest.MonkeyPatch, assistant: Assistant) -> None:
    monkeypatch.setattr(pipeline, "_default", assistant)
    answer = pipeline.answer(SECURITY, sources=[OTHER_DOC])
    assert answer.source == OTHER_DOC and answer.scope == [OTHER_DOC]


@pytest.mark.parametrize(("sources", "message"), [
    (["nothing-*.pdf"], "no indexed document matches 'nothing-\\*.pdf'"),
    (["../secret.txt"], "climbs out of the corpus"),
    (["/etc/passwd"], "absolute path"),
])
def test_a_bad_scope_is_a_clear_error(assistant: Assistant, sources: list[str], message: str) -> None:
    for call in (assistant.ask, assistant.retrieve, assistant.ask_each):
        with pytest.raises(ScopeError, match=message):
            call(SECURITY, sources=sources)


def test_a_bad_scope_is_said_before_the_models_load(seeds_dir: Path, tmp_path: Path) -> None:
    a = Assistant(seeds_dir, tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    with pytest.raises(ScopeError, match="climbs out"):
        a.ask(SECURITY, sources="../x.txt")
    assert not (tmp_path / "index").exists()
