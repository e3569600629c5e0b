"""qa.answering.spans: the text rules that answer spans keep to (joining hyphens, paired brackets, section numbers
and list markers, edge punctuation), on plain strings."""

from __future__ import annotations

import pytest

from qa.answering.spans import HEADING, ITEM, REFERENCE, SpanText, bracket_partners, glued_edges, markers, \
    owns_full_stop


def every_edge(text: str) -> tuple[list[int], list[int]]:
    """Starts and ends allowed at every character, so that tidy's trims show alone."""
    return list(range(len(text) + 1)), list(range(len(text) + 1))


def tidy(text: str, span: str) -> str | None:
    a = text.index(span)
    result = SpanText(text).tidy(a, a + len(span), *every_edge(text))
    return None if result is None else text[result[0]:result[1]]


# ---- joining hyphens ------------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["HCoV\u2010HKU1", "HCoV\u2011HKU1", "555\u20121234", "HCoV\u2013HKU1",
                                  "COVID\u201319", "SARS\u2013CoV\u20132", "co\u00adoperate"])
def test_a_joining_hyphen_is_inside_a_word(word: str) -> None:
    text = f"The strain ({word}) was found."
    at = text.index(word)
    edges = glued_edges(text)
    assert edges and all(at < e < at + len(word) for e in edges)


@pytest.mark.parametrize("text", ["in 1914\u20131918", "from 1928\u2013present", "the Portugal\u2013Spain border",
                                  "the San Diego\u2013Tijuana area", "COVID-19", "well - known"])
def test_ranges_pairs_of_names_and_ascii_hyphens_are_not_joined(text: str) -> None:
    assert glued_edges(text) == []


# ---- brackets and quotes --------------------------------------------------------------------------

def test_brackets_and_quotes_pair_as_written() -> None:
    text = 'made as of June 21, 1999 (the "Effective Date") by [Acme] and \u201cBeta\u201d'
    partners = bracket_partners(text)
    for a, b in (("(", ")"), ('"', '"'), ("[", "]"), ("\u201c", "\u201d")):
        i = text.index(a)
        j = text.index(b, i + 1)
        assert partners[i] == j and partners[j] == i


def test_marks_without_a_partner_hold_no_span() -> None:
    text = "a) the first item; he is 6'2\" tall; the parties\u2019 rights; (unclosed"
    assert bracket_partners(text) == {}


@pytest.mark.parametrize("span, unpaired", [("12) months", True), ("twelve (12", True), ("twelve (12) months", False),
                                            ("(12)", False), ('"Effective Date', True), ("months", False)])
def test_a_span_that_holds_one_mark_of_a_pair_is_unpaired(span: str, unpaired: bool) -> None:
    text = 'a term of twelve (12) months from the "Effective Date" of it'
    a = text.index(span)
    assert (SpanText(text).unpaired(a, a + len(span)) is not None) == unpaired


# ---- section numbers and list markers -------------------------------------------------------------

CONTRACT = ("10.7 Governing Law. This Agreement is governed by the laws of Kansas, as Section 6.01 says.\n"
            "2.2Termination. Either party may end it upon thirty (30) days notice.\n"
            "1. DEFINITIONS.\n(a) \"Products\" means the goods; and (iv) the rest.\n"
            "iv. the Licensee\nPrices rose by 10.7 percent in 2.5 years.")


def test_markers_are_told_from_numbers_in_prose() -> None:
    found = {(a, CONTRACT[a:b]): kind for a, b, kind in markers(CONTRACT)}
    assert found[(0, "10.7")] == HEADING
    assert found[(CONTRACT.index("2.2T"), "2.2Termination")] == HEADING
    assert found[(CONTRACT.index("1. D"), "1.")] == HEADING
    assert found[(CONTRACT.index("iv. the"), "iv.")] == HEADING
    assert found[(CONTRACT.index("6.01"), "6.01")] == REFERENCE
    assert found[(CONTRACT.index("(a)"), "(a)")] == ITEM and found[(CONTRACT.index("(iv)"), "(iv)")] == ITEM
    prose = CONTRACT.index("Prices")
    assert not [t for a, t in found if a >= prose]  # "rose by 10.7 percent in 2.5 years": decimals
    assert not [t for _, t in found if "30" in t]  # "thirty (30) days": the number again, not a list marker


def test_a_lone_capital_at_a_line_start_is_an_initial_unless_a_list_goes_on() -> None:
    assert markers("F. Hoffmann-La Roche Ltd\nand Acme") == []
    listed = "B. The Licensor owns it.\nC. The Licensee wants it."
    assert [listed[a:b] for a, b, _ in markers(listed)] == ["B.", "C."]


@pytest.mark.parametrize("span, at", [
    ("10.7", 0), ("6.01", CONTRACT.index("6.01")), ("2.2", CONTRACT.index("2.2T")),
    ("Termination", CONTRACT.index("Termination")), ("2.2Termination.", CONTRACT.index("2.2T")),
    ("(a)", CONTRACT.index("(a)")), ("a", CONTRACT.index("(a)") + 1), ("(iv)", CONTRACT.index("(iv)")),
    ("iv.", CONTRACT.index("iv. the")), ("1.", CONTRACT.index("1. D")), (".", CONTRACT.index(". Either")),
    (".\n1.", CONTRACT.index(".\n1. D")),
])
def test_a_span_of_markers_and_punctuation_alone_is_none(span: str, at: int) -> None:
    assert CONTRACT[at:at + len(span)] == span
    assert SpanText(CONTRACT).tidy(at, at + len(span), *every_edge(CONTRACT)) is None


@pytest.mark.parametrize("span, tidied", [
    ("10.7 Governing Law", "Governing Law"),
    ("2.2Termination. Either party", "Either party"),
    ("(a) \"Products\" means the goods", "\"Products\" means the goods"),
    ("the goods; and (iv) the rest", "the goods; and (iv) the rest"),  # a marker inside stays
    ("Section 6.01", "Section 6.01"),
    ("Kansas, as Section 6.01 says.\n2.2", "Kansas, as Section 6.01 says"),  # a trailing heading number goes too
])
def test_markers_are_trimmed_from_the_start_and_heading_numbers_from_the_end(span: str, tidied: str) -> None:
    assert tidy(CONTRACT, span) == tidied


# ---- edge punctuation -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, span, tidied", [
    ("governed by the laws of Kansas. It", "Kansas.", "Kansas"),
    ("the goods are sold by Acme Widgets, Inc. today", "Acme Widgets, Inc.", "Acme Widgets, Inc."),
    ("the law of the U.S. applies", "U.S.", "U.S."),
    ("made by Northwind Traders Ltd.", "Northwind Traders Ltd.", "Northwind Traders Ltd."),
    ("see Agreement No. 4", "Agreement No.", "Agreement No."),
    ("the parties, Acme and Beta; and", "Acme and Beta;", "Acme and Beta"),
    ("it ended, twenty- and more", ", twenty-", "twenty"),
    ("he said: yes!", ": yes!", "yes"),
])
def test_sentence_punctuation_at_the_edges_is_dropped_unless_its_word_owns_it(text: str, span: str,
                                                                               tidied: str) -> None:
    assert tidy(text, span) == tidied


@pytest.mark.parametrize("text, span, tidied", [
    ("the goods are sold by Acme Widgets, Inc. today", "Acme Widgets, Inc", "Acme Widgets, Inc."),
    ("the law of the U.S. applies", "U.S", "U.S."),
    ("governed by the laws of Kansas. It", "Kansas", "Kansas"),
])
def test_a_span_takes_the_full_stop_its_last_word_owns(text: str, span: str, tidied: str) -> None:
    assert tidy(text, span) == tidied


def test_owns_full_stop() -> None:
    for text in ("Acme, Inc.", "the U.S.", "Beta Ltd.", "No.", "e.g.", "Roe v."):
        assert owns_full_stop(text, len(text)), text
    for text in ("Kansas.", "in 2.5.", "the end.", "Schedule A."):
        assert not owns_full_stop(text, len(text)), text


def test_tidy_moves_to_allowed_edges_only() -> None:
    text = "2.2Termination. Either party may end it."
    # The reader's words: "2", ".", "2Termination", ".", "Either", "party", "may", "end", "it", "."
    starts = [0, 1, 2, 14, 16, 23, 29, 33, 37, 39]
    ends = [1, 2, 14, 15, 22, 28, 32, 36, 39, 40]
    assert SpanText(text).tidy(0, 40, starts, ends) == (16, 39)  # "Either party may end it"
