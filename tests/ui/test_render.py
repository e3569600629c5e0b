"""qa.ui.render: one Answer, said the same way as HTML, text and JSON."""

from __future__ import annotations

from qa.types import Answer, Chunk, Hit
from qa.ui.render import answer_html, answer_json, answer_text, error_json

CONTEXT = "The Old Harbour Lighthouse was built in 1871 by the engineer Thomas Avery. It is 34 metres tall."
HIT = Hit(Chunk("c1", "lighthouse.txt", 200, 200 + len(CONTEXT), CONTEXT), 0.8)


def _answer(text: str, score: float) -> Answer:
    at = CONTEXT.index(text)
    return Answer(text=text, score=score, source="lighthouse.txt", start=200 + at, end=200 + at + len(text),
                  context=CONTEXT, context_start=200, passages=[HIT])


def test_json_is_to_dict_with_error_and_keeps_the_fields() -> None:
    answer = _answer("Thomas Avery", 0.912345)
    answer.alternatives = [_answer("1871", 0.3)]
    fields = answer_json(answer, {"lighthouse.txt": "The Lighthouse"})
    assert fields == {**answer.to_dict({"lighthouse.txt": "The Lighthouse"}), "error": None}
    assert (fields["text"], fields["score"], fields["verdict"], fields["title"]) == \
        ("Thomas Avery", 0.9123, "answer", "The Lighthouse")
    assert fields["alternatives"][0]["text"] == "1871" and fields["passages"][0]["start"] == 200
    failed = error_json("the question is empty", [HIT])
    assert set(failed) == set(fields) and failed["verdict"] == "error" and failed["passages"][0]["text"] == CONTEXT


def test_every_form_puts_the_verdict_first() -> None:
    answer = _answer("Thomas Avery", 0.9)
    assert answer_text(answer).splitlines()[0] == "Answer: Thomas Avery"
    assert answer_html(answer).index("Thomas Avery") < answer_html(answer).index("<details")
    unsure = Answer(text="", score=0.4, alternatives=[_answer("Thomas Avery", 0.6)], passages=[HIT])
    silent = Answer(text="", score=0.9, alternatives=[_answer("Thomas Avery", 0.1)], passages=[HIT])
    for abstention, head in ((unsure, "Not sure"), (silent, "Not in the documents")):
        text, page = answer_text(abstention), answer_html(abstention)
        assert text.startswith(f"{head}: ") and "best candidate, below the threshold: 'Thomas Avery'" in text
        assert page.index(f"<strong>{head}</strong>") < page.index("Best candidate") < page.index("<details")
    assert Answer(text="", score=1.0).to_dict()["verdict"] == "not_in_documents"  # nothing found at all
