import pytest

from qa.types import Span


def span(score: float, no_answer: float) -> Span:
    return Span(text="Paris", start=0, end=5, score=score, no_answer_score=no_answer, passage=0)


def test_confidence_weighs_the_span_against_no_answer() -> None:
    assert span(0.7, 0.7).confidence == pytest.approx(0.5)
    # The same span score is more convincing where the passage is less likely to hold no answer.
    assert span(0.7, 0.2).confidence > span(0.7, 0.5).confidence > 0.5 > span(0.7, 0.9).confidence
    # logit(0.9) - logit(0.5) = log 9: odds of 9 to 1.
    assert span(0.9, 0.5).confidence == pytest.approx(0.9)
    assert 0.0 < span(1.0, 0.0).confidence <= 1.0 and 0.0 <= span(0.0, 1.0).confidence < 1.0


def test_the_threshold_decides_on_confidence() -> None:
    sure, unsure = span(0.9, 0.5), span(0.6, 0.55)
    assert sure.answers(0.8) and not unsure.answers(0.8)
    assert sure.answers(0.0) and unsure.answers(0.0)  # 0 always answers
    assert not sure.answers(1.0)  # 1 never does
