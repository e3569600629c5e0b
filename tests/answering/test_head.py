"""qa.answering.head: a question about the document itself reads the passage that opens the documents in play."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answering.head import add_heads, asks_about_document, opening_chunk
from qa.ingest.chunking import chunk_document
from qa.ingest.documents import read_document
from qa.pipeline import Assistant

HEAD = ('MASTER SUPPLY AGREEMENT\n\nThis Master Supply Agreement (the "Agreement") is made as of June 21, 1999 by and '
        'between Acme Widgets, Inc. ("Supplier") and Beta Foods LLC ("Buyer").\n\n')
CLAUSES = ["Delivery", "Invoices", "Inspection", "Returns", "Pricing", "Forecasts", "Audits", "Records", "Insurance",
           "Recalls", "Labels", "Storage", "Samples", "Claims", "Taxes", "Notices", "Assignment", "Waiver"]
BODY = "".join(
    f"{i + 2}.1 {name}. Under this contract the Buyer pays for each {name.lower()} within {i + 3} days of the date "
    f"on its invoice. A {name.lower()} record dated before March {i + 1}, 2001 keeps the terms of its own date, "
    f"and the Supplier keeps the records of the contract for {i + 3} years after that date.\n\n"
    for i, name in enumerate(CLAUSES))


@pytest.mark.parametrize("question", [
    "What is the name of the contract?", "What is this agreement called?", "What is the title of the paper?",
    "Who are the parties to the contract?", "Who are the parties?", "Who signed the agreement?",
    "Who wrote the paper?", "Who is the agreement between?", "What is the date of the contract?",
    "When is the contract effective?", "What is the effective date?", "When was the lease signed?",
    "When does the license start?", "When was the policy last updated?",
])
def test_questions_about_the_document_itself(question: str) -> None:
    assert asks_about_document(question)


@pytest.mark.parametrize("question", [
    "On what date will the contract's initial term expire?", "What is the renewal term after the initial term expires?",
    "What is the notice period required to terminate renewal?", "Which state or country's law governs the contract?",
    "What is the duration of the warranty?", "Does the contract contain a license granted by one party?",
    "Do you share my info with third parties?", "Who wrote The Color Purple?", "When is the rent due?",
    "Who had the fewest backers, between Kerry and Dean?", "What is the name of the Vice Mayor of Shanghai?",
])
def test_questions_about_what_the_document_says_of_other_things(question: str) -> None:
    assert not asks_about_document(question)


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("contracts")
    (corpus / "supply.txt").write_text(HEAD + BODY, encoding="utf-8")
    (corpus / "lighthouse.txt").write_text((Path(__file__).parents[1] / "data" / "tiny" / "lighthouse.txt")
                                           .read_text(encoding="utf-8"), encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def assistant(contracts: Path, tmp_path_factory: pytest.TempPathFactory, trained_reader_model: str) -> Assistant:
    a = Assistant(contracts, tmp_path_factory.mktemp("index"), reader_model=trained_reader_model,
                  answer_threshold=0.0)
    a.index()
    return a


def test_the_opening_chunk_is_the_documents_first(assistant: Assistant, contracts: Path) -> None:
    s = assistant.settings
    first = chunk_document(read_document(contracts, contracts / "supply.txt"), s.chunk_words, s.chunk_max_words,
                           s.chunk_overlap_words)[0]
    assert opening_chunk(assistant.store, "supply.txt", s) == first
    assert first.text.startswith("MASTER SUPPLY AGREEMENT") and "June 21, 1999" in first.text
    assert opening_chunk(assistant.store, "missing.txt", s) is None


def test_a_question_about_the_document_reads_its_head(assistant: Assistant) -> None:
    question = "What is the date of the contract?"
    retrieved = assistant.retrieve(question)
    assert retrieved and all(h.chunk.start > 0 for h in retrieved)  # retrieval brings the clauses full of dates
    answer = assistant.ask(question)
    assert answer.text == "June 21, 1999"
    assert answer.source == "supply.txt"
    assert assistant.document_text("supply.txt")[answer.start:answer.end] == answer.text
    head = next(h for h in answer.passages if h.chunk.start == 0)
    best = next(h for h in retrieved if h.chunk.source == "supply.txt")
    assert (head.score, head.dense_rank, head.bm25_rank) == (best.score, best.dense_rank, best.bm25_rank)
    assert answer.passages.index(head) == retrieved.index(best)  # read just before its document's best passage


def test_questions_about_the_documents_name_and_parties_read_its_head(assistant: Assistant) -> None:
    answer = assistant.ask("What is the name of the contract?")
    assert answer.text.startswith("MASTER SUPPLY AGREEMENT") and answer.start == 0
    answer = assistant.ask("Who are the parties to the contract?")
    assert any(h.chunk.start == 0 and h.chunk.source == "supply.txt" for h in answer.passages)


def test_other_questions_read_only_what_was_retrieved(assistant: Assistant) -> None:
    question = "How many years does the Supplier keep the audit records?"
    retrieved = assistant.retrieve(question)
    assert add_heads(question, retrieved, assistant.store, assistant.settings) == retrieved


def test_a_question_asked_of_one_document_reads_that_documents_head(assistant: Assistant) -> None:
    question = "When was the agreement signed?"
    # A scope of one document none of whose passages was retrieved: its head is read, with no retrieval evidence.
    lone = add_heads(question, [], assistant.store, assistant.settings, scope=["supply.txt"])
    assert [(h.chunk.source, h.chunk.start, h.score) for h in lone] == [("supply.txt", 0, 0.0)]
    # Without a scope, the documents of the best passages are in play: none here.
    assert add_heads(question, [], assistant.store, assistant.settings) == []
    # A question about something else reads no head, in a scope of one document too: the head's names and dates
    # would outvote the passage that answers it.
    other = "How many years does the Supplier keep the audit records?"
    retrieved = [h for h in assistant.retrieve(other) if h.chunk.source == "supply.txt"]
    assert add_heads(other, retrieved, assistant.store, assistant.settings, scope=["supply.txt"]) == retrieved
