"""Span decoding that respects the text: brackets paired, no bare section numbers or list markers, no sentence
punctuation at the edges, no cut at a joining hyphen; on logits made by hand, and with the trained reader."""

from __future__ import annotations

import re

import numpy as np
import pytest

from qa.answering.reader import Reader, decode_spans, featurize

QUESTION = "What is it?"
HYPHENS = "\u2010\u2011"
PAIRS = {"(": ")", "[": "]", "\u201c": "\u201d"}
MARKER = re.compile(r"\d+\.\d+\w*\.?|\d+\.|\([a-z]+\)|[ivx]+\.")  # "10.7", "2.2Termination.", "1.", "(a)", "iv."


def balanced(text: str) -> bool:
    """Every bracket and double quote of `text` closes in it, in order."""
    stack = []
    for ch in text:
        if ch in PAIRS:
            stack.append(PAIRS[ch])
        elif ch in PAIRS.values() and (not stack or stack.pop() != ch):
            return False
    return not stack and text.count('"') % 2 == 0


def in_a_word(passage: str, i: int) -> bool:
    """Whether position i falls beside a hyphen that joins two letters or digits ("HCoV‐HKU1")."""
    def joins(h: int) -> bool:
        return 0 < h < len(passage) - 1 and passage[h] in HYPHENS and passage[h - 1].isalnum() and \
            passage[h + 1].isalnum()
    return joins(i) or joins(i - 1)


def well_cut(passage: str, start: int, end: int) -> bool:
    """Whether a span keeps to the rules a person underlining would."""
    text = passage[start:end]
    sentence_end = text[-1] in ".,;:" and not text.endswith(("Inc.", "Ltd.", "U.S."))
    return balanced(text) and not MARKER.match(text) and not sentence_end and not in_a_word(passage, start) \
        and not in_a_word(passage, end)


def decode(reader_tokenizer, passage: str, start_logits: dict[str, float], end_logits: dict[str, float],
           top_k: int = 5):
    """Decode one window whose logits are 0 but at the tokens that begin (`start_logits`) or end (`end_logits`)
    the given stretches of the passage."""
    w = featurize(reader_tokenizer, [QUESTION], [passage], 384, 128)
    width = len(w.offsets[0])
    start, end = np.zeros((1, width), np.float32), np.zeros((1, width), np.float32)
    for text, value in start_logits.items():
        a = passage.index(text)
        start[0, next(t for t, o in enumerate(w.offsets[0]) if o is not None and o[0] == a)] = value
    for text, value in end_logits.items():
        b = passage.index(text) + len(text)
        end[0, next(t for t, o in enumerate(w.offsets[0]) if o is not None and o[1] == b)] = value
    return decode_spans(start, end, w, [passage], max_answer_tokens=30, calibration=1.0, top_k=top_k)


@pytest.fixture(scope="module")
def tokenizer(reader_model: str):
    r = Reader(reader_model)
    r.warm_up()
    return r._tokenizer


TERM = "The initial term is twelve (12) months from the Effective Date."


def test_an_unclosed_bracket_is_taken_in_when_the_scores_prefer_it(tokenizer) -> None:
    # The best pair of logits is "12) months"; of its mends, a start at "twelve" scores best.
    spans = decode(tokenizer, TERM, {"12": 9.0, "twelve": 7.0}, {"months": 9.0})
    assert spans[0].text == "twelve (12) months"
    assert spans[0].score == pytest.approx(1 / (1 + np.exp(-18.0)))  # the score of the span it mends
    assert all(well_cut(TERM, sp.start, sp.end) for sp in spans)


def test_an_unclosed_bracket_is_left_out_when_the_scores_prefer_it(tokenizer) -> None:
    spans = decode(tokenizer, TERM, {"12": 9.0, "twelve": -3.0, "months": 2.0}, {"months": 9.0, "12": -4.0})
    assert spans[0].text == "months"
    spans = decode(tokenizer, TERM, {"12": 9.0, "twelve": -3.0, "months": -3.0}, {"months": 9.0, "12": 6.0})
    assert spans[0].text == "12"
    assert all(well_cut(TERM, sp.start, sp.end) for sp in spans)


def test_an_open_bracket_is_closed_when_the_scores_prefer_it(tokenizer) -> None:
    passage = "It lasts twenty-four (24) months from the Effective Date."
    spans = decode(tokenizer, passage, {"twenty": 9.0}, {"24": 9.0, "Date": 6.0})
    assert spans[0].text == "twenty-four (24) months from the Effective Date"
    assert all(well_cut(passage, sp.start, sp.end) for sp in spans)


def test_a_section_number_alone_is_never_a_span(tokenizer) -> None:
    passage = "10.7 Governing Law. This Agreement is governed by the laws of the State of Kansas."
    spans = decode(tokenizer, passage, {"10.7": 12.0, "Kansas": 5.0}, {"10.7": 12.0, "Kansas.": 5.0}, top_k=20)
    texts = [sp.text for sp in spans]
    assert "10.7" not in texts and not any(t.startswith("10.7") for t in texts)
    assert texts[0] == "Governing Law. This Agreement is governed by the laws of the State of Kansas"  # "10.7 ..."
    assert "Kansas" in texts and "Kansas." not in texts  # without the sentence's full stop


def test_a_heading_run_into_its_number_is_not_a_span(tokenizer) -> None:
    passage = "2.2Termination. Either party may end this Agreement on thirty (30) days notice."
    spans = decode(tokenizer, passage, {"2.2": 12.0, "thirty": 6.0}, {"Termination.": 12.0, "notice": 5.0}, top_k=20)
    assert spans[0].text == "Either party may end this Agreement on thirty (30) days notice"  # "2.2Term... notice"
    assert not any("Termination" in sp.text for sp in spans)


@pytest.mark.parametrize("marker", ["(a)", "(iv)", "iv.", "1."])
def test_a_list_marker_alone_is_never_a_span(tokenizer, marker: str) -> None:
    passage = f"The Licensee shall:\n{marker} pay the fees within thirty days."
    spans = decode(tokenizer, passage, {marker: 12.0, "thirty": 5.0}, {marker: 12.0, "days": 5.0}, top_k=20)
    assert spans[0].text == "pay the fees within thirty days"  # "(a) pay the fees ...", trimmed of its marker
    assert not any(sp.text.startswith(marker) or sp.text == marker.strip("().") for sp in spans)


@pytest.mark.parametrize("passage, span, expected", [
    ("The goods are sold by Acme Widgets, Inc. and shipped by sea.", "Acme Widgets, Inc", "Acme Widgets, Inc."),
    ("The goods are shipped to the U.S. by sea.", "U.S", "U.S."),
    ("The goods are shipped to the U.S. by sea.", "S.", "U.S."),  # never the "S." of "U.S."
    ("The goods are shipped to Kansas. By sea.", "Kansas.", "Kansas"),
])
def test_a_span_keeps_the_full_stop_its_word_owns(tokenizer, passage: str, span: str, expected: str) -> None:
    first = span.split(".")[0] or span
    spans = decode(tokenizer, passage, {first: 9.0} if span != "S." else {"S": 9.0, "U": 8.0},
                   {span: 9.0}, top_k=10)
    assert spans[0].text == expected
    assert all(well_cut(passage, sp.start, sp.end) and sp.text not in ("S.", ".S.", "U.S") for sp in spans)


def test_a_span_never_stops_at_a_joining_hyphen(tokenizer) -> None:
    passage = "Four coronaviruses circulate: HCoV\u2010229E, HCoV\u2010NL63 and (HCoV\u2010HKU1), found in 2005."
    spans = decode(tokenizer, passage, {"HCoV\u2010HKU1": 9.0, "HKU1": 10.0},
                   {"HCoV\u2010HKU1)": 10.0, "HKU1": 9.0}, top_k=20)
    assert spans[0].text == "HCoV\u2010HKU1"  # not "HCoV)", "HKU1" or "HCoV"
    assert all(well_cut(passage, sp.start, sp.end) for sp in spans)


# ---- with the trained reader -----------------------------------------------------------------------

CASES = [  # (question, passage, the answer the reader gives)
    ("How long is the initial term?",
     "The initial term of this Agreement is twelve (12) months from the Effective Date.", "twelve (12) months"),
    ("How long does the agreement continue?",
     "This Agreement shall continue for twenty-four (24) months from the Effective Date unless terminated earlier.",
     "twenty-four (24) months"),
    ("What is the notice period to terminate?",
     "2.2Termination. Either party may terminate this Agreement upon thirty (30) days written notice to the "
     "other party.", "thirty (30) days"),
    ("Which state's law governs the contract?",
     "10.7 Governing Law. This Agreement shall be governed by the laws of the State of Kansas.", "Kansas"),
    ("Which coronavirus was first found in Hong Kong?",
     "Four human coronaviruses circulate each year: HCoV\u2010229E, HCoV\u2010NL63, HCoV\u2010OC43 and "
     "HCoV\u2010HKU1, which was first found in Hong Kong in 2005.", "HCoV\u2010HKU1"),
    ("Who supplies the goods?", "The goods are supplied by Acme Widgets, Inc.", "Acme Widgets, Inc."),
    ("Which country's law governs?", "This agreement is governed by the law of the U.S.", "U.S."),
]


@pytest.fixture(scope="module")
def trained(trained_reader_model: str) -> Reader:
    r = Reader(trained_reader_model)
    r.warm_up()
    return r


@pytest.mark.parametrize("question, passage, expected", CASES)
def test_the_trained_reader_underlines_as_a_person_would(trained: Reader, question: str, passage: str,
                                                           expected: str) -> None:
    spans = trained.run(question, [passage], top_k=20)
    assert spans[0].text == expected
    bad = [sp.text for sp in spans if not well_cut(passage, sp.start, sp.end)]
    assert not bad  # e.g. "12) months", "24) months from the Effective Date", "HCoV", "2.2Termination."
    for sp in spans:
        assert passage[sp.start:sp.end] == sp.text
