"""qa.answering.normalize: SQuAD's answer normalisation (examples after the official SQuAD script)."""

from __future__ import annotations

import pytest

from qa.answering.normalize import normalize_answer


@pytest.mark.parametrize(("text", "normal"), [
    ("The Denver Broncos", "denver broncos"),
    ("  the  QUICK, brown fox! ", "quick brown fox"),
    ("an apple a day", "apple day"),
    ("Thea theatre", "thea theatre"),  # articles only as whole words
    ("Mr Tang Ping-keung.", "mr tang pingkeung"),
    ("'i Ambassador'", "i ambassador"),
    ("A", ""),
    ("", ""),
])
def test_normalize_answer(text: str, normal: str) -> None:
    assert normalize_answer(text) == normal
