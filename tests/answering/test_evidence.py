"""qa.answering.evidence: each candidate's features, on hand-made readings."""

from __future__ import annotations

import math

import pytest

from qa.answering.evidence import FEATURES, Candidate, features, gather, question_kind, type_fit
from qa.types import Chunk, Hit, Span


def hit(n: int, score: float = 1.0) -> Hit:
    return Hit(Chunk(f"c{n}", f"doc{n}.txt", 0, 100, ""), score, n + 1, n + 1, 0.5, 10.0 - n)


def span(text: str, score: float, passage: int, no_answer: float = 0.1) -> Span:
    return Span(text, 0, len(text), score, no_answer, passage, 2.0, 3.0)


def column(rows, name: str) -> list[float]:
    return [float(v) for v in rows[:, FEATURES.index(name)]]


def test_agreement_is_counted_across_passages() -> None:
    hits = [hit(0), hit(1, 0.8), hit(2, 0.6)]
    read = [[span("Paris", 0.9, 0), span("Lyon", 0.3, 0)], [span("paris", 0.7, 1)], [span("the Paris", 0.6, 2)]]
    candidates = gather(hits, read)
    rows = features("Where is the Louvre?", candidates, len(read))
    assert [c.span.text for c in candidates] == ["Paris", "Lyon", "paris", "the Paris"]
    # "Paris", "paris" and "the Paris" are one answer once normalised: proposed by all three passages.
    assert column(rows, "log_agreeing_passages") == pytest.approx([math.log1p(3), math.log1p(1)] + [math.log1p(3)] * 2)
    shares = column(rows, "agreeing_share")
    assert shares[0] == shares[2] == shares[3] > 0.5 > shares[1] > 0
    assert shares[0] + shares[1] == pytest.approx(1.0)
    assert column(rows, "log_passage_rank") == pytest.approx([0, 0, math.log1p(1), math.log1p(2)])
    assert column(rows, "log_passages_read") == pytest.approx([math.log1p(3)] * 4)


def test_a_candidate_named_in_the_question_overlaps_it() -> None:
    read = [[span("Tang Ping-keung", 0.8, 0), span("Zhang Yahong", 0.6, 0)]]
    rows = features("Whom did Tang Ping-keung meet in Shanghai?", gather([hit(0)], read), 1)
    assert column(rows, "question_overlap") == [1.0, 0.0]


def test_a_how_many_question_fits_a_number_and_not_a_name() -> None:
    read = [[span("Mr Chen Jie", 0.8, 0), span("about 50", 0.6, 0)]]
    rows = features("How many representatives attended the symposium?", gather([hit(0)], read), 1)
    assert column(rows, "fit_number") == [-1.0, 1.0]
    assert column(rows, "fit_who") == column(rows, "fit_when") == column(rows, "fit_where") == [0.0, 0.0]


@pytest.mark.parametrize("question, kind", [
    ("Who signed the lease for the Tenant?", "who"), ("When did the ordinance take effect?", "when"),
    ("In what year was it founded?", "when"), ("How many years did it last?", "number"),
    ("Where was the conference held?", "where"), ("Which city hosted it?", "where"),
    ("What is the capital of France?", "other")])
def test_question_kinds(question: str, kind: str) -> None:
    assert question_kind(question) == kind


@pytest.mark.parametrize("kind, text, fit", [
    ("when", "17 March 2021", (0, 1, 0, 0)), ("when", "the council", (0, -1, 0, 0)),
    ("who", "Mrs Laura Aron", (1, 0, 0, 0)), ("who", "1,200", (-1, 0, 0, 0)),
    ("where", "Chongqing", (0, 0, 0, 1)), ("number", "twelve", (0, 0, 1, 0)), ("other", "x", (0, 0, 0, 0))])
def test_type_fit(kind: str, text: str, fit: tuple) -> None:
    assert type_fit(kind, text) == fit


def test_the_reader_features_follow_the_spans() -> None:
    read = [[span("A", 0.9, 0, no_answer=0.5), span("B", 0.5, 0, no_answer=0.5)]]
    rows = features("What?", gather([hit(0)], read), 1)
    logit_a, logit_b = math.log(9), 0.0
    assert column(rows, "span_logit") == pytest.approx([logit_a, logit_b])
    assert column(rows, "confidence_logit") == pytest.approx([logit_a, logit_b])  # no-answer at 0.5: logit 0
    assert column(rows, "passage_margin") == pytest.approx([logit_a - logit_b, logit_b - logit_a])
    assert column(rows, "gap_to_best") == pytest.approx([0.0, logit_b - logit_a])
    assert column(rows, "rank_in_passage") == pytest.approx([0.0, math.log1p(1)])
    assert rows.shape == (2, len(FEATURES))


def test_no_candidates_give_no_rows() -> None:
    assert features("What?", [], 2).shape == (0, len(FEATURES))
    assert gather([hit(0)], [[]]) == []
    assert isinstance(gather([hit(0)], [[span("A", 0.5, 0)]])[0], Candidate)
