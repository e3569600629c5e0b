"""qa.eval.metrics: EM, F1, abstention scoring, sampling, thresholds and risk-coverage."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval import metrics as ev
from qa.eval import questions as qs
from qa.eval.metrics import Prediction
from qa.eval.questions import Question

DATA = Path(__file__).parents[1] / "data"


# ---- metrics (examples after the official SQuAD script) ---------------------------------------

def test_exact_match_takes_the_best_gold() -> None:
    assert ev.exact_match("the Denver Broncos", ["Denver Broncos"]) == 1.0
    assert ev.exact_match("Denver", ["Denver Broncos", "Broncos"]) == 0.0
    assert ev.exact_match("broncos!", ["Denver Broncos", "Broncos"]) == 1.0


def test_f1_examples() -> None:
    assert ev.f1_score("Denver Broncos", ["Denver Broncos"]) == 1.0
    assert ev.f1_score("Denver Broncos", ["Broncos"]) == pytest.approx(2 / 3)  # P 1/2, R 1
    assert ev.f1_score("the Carolina Panthers", ["Denver Broncos"]) == 0.0
    assert ev.f1_score("Santa Clara, California", ["Levi's Stadium", "Santa Clara"]) == pytest.approx(0.8)
    # Repeated tokens count as often as both sides have them.
    assert ev.f1_score("go go go", ["go"]) == pytest.approx(0.5)  # P 1/3, R 1


def test_abstention_scoring() -> None:
    assert ev.exact_match("", []) == 1.0 and ev.f1_score("", []) == 1.0  # rightly abstained
    assert ev.exact_match("Paris", []) == 0.0 and ev.f1_score("Paris", []) == 0.0  # answered the unanswerable
    assert ev.exact_match("", ["Paris"]) == 0.0 and ev.f1_score("", ["Paris"]) == 0.0  # abstained wrongly
    assert ev.f1_score("the", ["a"]) == 1.0  # both normalise to nothing


def q(id_: str, answers: tuple[str, ...], source: str | None) -> Question:
    return Question(id_, f"question {id_}?", answers, source)


def test_score_computes_every_metric_in_percent() -> None:
    predictions = [
        Prediction(q("1", ("Thomas Avery",), "a.txt"), "Thomas Avery", "a.txt", ["a.txt", "b.txt"]),
        Prediction(q("2", ("1954",), "b.txt"), "in 1954 and 1955", "c.txt", ["c.txt", "d.txt", "e.txt", "f.txt",
                                                                              "g.txt", "b.txt"]),
        Prediction(q("3", ("red",), "c.txt"), "", None, ["x.txt", "c.txt"]),
        Prediction(q("4", (), None), "", None, ["a.txt"]),
        Prediction(q("5", (), None), "something", "a.txt", ["a.txt"]),
    ]
    m = ev.score(predictions)
    f1_2 = 2 * (1 / 4) * 1 / (1 / 4 + 1)
    assert m["exact_match"] == pytest.approx(round(100 * 2 / 5, 2))
    assert m["f1"] == pytest.approx(round(100 * (1 + f1_2 + 0 + 1 + 0) / 5, 2))
    assert m["source_accuracy"] == pytest.approx(round(100 / 3, 2))
    assert m["recall@5"] == pytest.approx(round(200 / 3, 2))  # b.txt was 6th
    assert m["mrr"] == pytest.approx(round(100 * (1 + 1 / 6 + 1 / 2) / 3, 2))
    assert m["passages_per_question"] == pytest.approx(round((2 + 6 + 2) / 3, 2))  # of the answerable ones
    assert m["has_answer_f1"] == pytest.approx(round(100 * (1 + f1_2) / 3, 2))
    assert m["no_answer_accuracy"] == 50.0
    assert m["n"] == 5
    reader_only = ev.score(predictions, reader_only=True)
    assert "source_accuracy" not in reader_only and "recall@5" not in reader_only
    assert reader_only["exact_match"] == m["exact_match"]


def test_score_without_unanswerable_questions() -> None:
    m = ev.score([Prediction(q("1", ("x",), "a.txt"), "x", "a.txt", ["a.txt"])])
    assert m["no_answer_accuracy"] is None and m["exact_match"] == 100.0 and m["n"] == 1


def test_a_question_without_a_gold_file_is_left_out_of_the_source_metrics() -> None:
    # Answers with a null source: the answer is known, the file it stands in is not; nothing to score it on.
    predictions = [Prediction(q("1", ("x",), "a.txt"), "x", "a.txt", ["a.txt"]),
                   Prediction(q("2", ("y",), None), "y", "b.txt", ["b.txt"])]
    m = ev.score(predictions)
    assert m["exact_match"] == 100.0 and m["n"] == 2
    assert m["source_accuracy"] == 100.0 and m["recall@5"] == 100.0 and m["mrr"] == 100.0
    # With no gold file at all those figures are null, their keys still there.
    m = ev.score(predictions[1:])
    assert m["source_accuracy"] is None and m["recall@5"] is None and m["f1"] == 100.0
    assert ev.score_retrieval(predictions[1:])["recall@1"] is None


# ---- sampling ------------------------------------------------------------------------------------

def test_sample_is_reproducible_and_keeps_order() -> None:
    questions = [q(str(i), ("x",), "a.txt") for i in range(100)]
    first = qs.sample(questions, 10)
    assert first == qs.sample(questions, 10)
    assert len(first) == 10 and len({x.id for x in first}) == 10
    assert [int(x.id) for x in first] == sorted(int(x.id) for x in first)
    assert qs.sample(questions, 10, seed=1) != first
    assert qs.sample(questions, None) == questions and qs.sample(questions, 500) == questions


# ---- the reader-only runner ----------------------------------------------------------------------

def test_run_reader_only_reads_each_gold_paragraph(reader_model: str) -> None:
    from qa.answering.reader import Reader

    squad = qs.load_squad(DATA / "reading-sets" / "tiny-v1.json")
    reader = Reader(reader_model)
    predictions = ev.run_reader_only(reader, squad.questions, threshold=0.0, batch=2)
    assert [p.question.id for p in predictions] == [x.id for x in squad.questions]
    for p in predictions:
        assert p.text == "" or p.text in p.question.context
        assert p.retrieved == [p.question.source]
    strict = ev.run_reader_only(reader, squad.questions, threshold=1.0)
    assert all(p.text == "" for p in strict)
    # A score is the best span's confidence, answered or declined, and the declined span is kept as `best`.
    assert [s.score for s in strict] == [p.score for p in predictions]
    assert [s.best for s in strict] == [p.text for p in predictions]
    # Reading at a threshold gives what thresholding the never-abstaining predictions gives.
    cut = sorted(p.score for p in predictions)[len(predictions) // 2]
    assert [p.text for p in ev.run_reader_only(reader, squad.questions, threshold=cut)] == [
        p.text for p in ev.at_threshold(predictions, cut)]
    metrics = ev.score(strict, reader_only=True)
    assert metrics["exact_match"] == 0.0 and metrics["n"] == 5


def test_threshold_maximises_f1_when_answering_at_or_above_it() -> None:
    def said(i: int, text: str, score: float | None, answers: tuple[str, ...]) -> Prediction:
        return Prediction(Question(str(i), "?", answers, "a.txt" if answers else None), text, "a.txt", [], score)

    predictions = [said(1, "Avery", 0.9, ("Avery",)), said(2, "1954", 0.8, ("1954",)),
                   said(3, "red", 0.7, ()), said(4, "blue", 0.6, ()),
                   said(5, "", None, ())]  # no span at all: it abstains at any threshold
    t = ev.choose_threshold(predictions)
    assert t == pytest.approx(0.8)
    chosen = ev.at_threshold(predictions, t)
    assert [p.text for p in chosen] == ["Avery", "1954", "", "", ""]
    assert chosen[2].source is None and chosen[2].score == pytest.approx(0.7)  # its best candidate's, kept
    assert ev.score(chosen, reader_only=True)["f1"] == 100.0
    assert ev.choose_threshold([said(1, "Avery", 0.5, ("Avery",)), said(2, "x", 0.4, ())]) == pytest.approx(0.5)
    # Ties go to the lowest threshold: a set best answered whole gets 0, not its lowest score.
    assert ev.choose_threshold([said(1, "Avery", 0.5, ("Avery",)), said(2, "1954", 0.2, ("1954",))]) == 0.0
    assert ev.choose_threshold([]) == 0.0


def test_threshold_can_decline_every_answer() -> None:
    def said(i: int, text: str, score: float) -> Prediction:
        return Prediction(Question(str(i), "?", (), None), text, "a.txt", [], score)

    for predictions in ([said(1, "Paris", 0.3)], [said(1, "Paris", 0.5), said(2, "blue", 0.9)]):
        t = ev.choose_threshold(predictions)
        top = max(p.score for p in predictions)
        assert top < t <= 1.0  # above the top score, and still a valid setting
        m = ev.score(ev.at_threshold(predictions, t), reader_only=True)
        assert m["f1"] == 100.0 and m["no_answer_accuracy"] == 100.0
    # A score of exactly 1 is answered at any threshold in [0, 1]: the best of those is taken instead.
    assert ev.choose_threshold([said(1, "Paris", 1.0)]) == 0.0
    assert ev.choose_threshold([said(1, "Paris", 0.4), said(2, "blue", 1.0)]) == pytest.approx(1.0)


def test_prediction_rows_hold_gold_answer_scores_and_gold_rank() -> None:
    asked = Question("q1", "Who built it?", ("Thomas Avery",), "a.txt")
    unanswerable = Question("q2", "Who is the mayor?", (), None)
    rows = ev.prediction_rows([Prediction(asked, "Avery", "b.txt", ["b.txt", "a.txt"], 0.62, "Avery"),
                               Prediction(unanswerable, "", None, ["a.txt"])])
    assert rows[0] == {"id": "q1", "question": "Who built it?", "answers": ["Thomas Avery"], "source": "a.txt",
                       "prediction": "Avery", "predicted_source": "b.txt", "score": 0.62, "best": "Avery", "exact_match": 0.0,
                       "f1": pytest.approx(2 / 3), "retrieved": ["b.txt", "a.txt"], "gold_rank": 2}
    assert rows[1]["exact_match"] == 1.0 and rows[1]["gold_rank"] is None  # a right abstention
    retrieval = ev.prediction_rows([Prediction(asked, "", None, ["a.txt"])], reading=False)
    assert retrieval == [{"id": "q1", "question": "Who built it?", "answers": ["Thomas Avery"], "source": "a.txt",
                          "retrieved": ["a.txt"], "gold_rank": 1}]


def test_risk_coverage_takes_the_surest_first_and_counts_answered_unanswerables_as_errors() -> None:
    def said(i: int, best: str, score: float | None, answers: tuple[str, ...]) -> Prediction:
        return Prediction(Question(str(i), "?", answers, None), "", None, [], score, best)

    predictions = [said(1, "Avery", 0.9, ("Avery",)), said(2, "red", 0.8, ()), said(3, "1954", 0.7, ("1954",)),
                   said(4, "blue", 0.2, ("green",)), said(5, "", None, ("Paris",))]  # no candidate: never answered
    curve = ev.risk_coverage(predictions)
    assert [(t, c) for t, c, _ in curve] == [(0.9, 0.2), (0.8, 0.4), (0.7, 0.6), (0.2, 0.8)]
    assert [p for _, _, p in curve] == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    figures = ev.selective(predictions)
    assert figures["aurc"] == pytest.approx(round(100 * (0 + 0.5 + 1 / 3 + 0.5) / 4, 2))
    assert figures["coverage_at_90"] == 20.0  # only the surest question keeps 90% precision
    # A better ranking of the same answers has a lower AURC and a higher coverage at 90%.
    reranked = [said(1, "Avery", 0.9, ("Avery",)), said(3, "1954", 0.8, ("1954",)), said(2, "red", 0.7, ()),
                said(4, "blue", 0.2, ("green",)), said(5, "", None, ("Paris",))]
    better = ev.selective(reranked)
    assert better["aurc"] < figures["aurc"] and better["coverage_at_90"] == 40.0
    assert ev.selective([said(1, "", None, ("x",))]) == {"aurc": None, "coverage_at_90": None, "ece": None}
    assert set(ev.score(predictions, reader_only=True)) >= {"aurc", "coverage_at_90", "ece"}


def test_calibration_error_is_the_weighted_gap_between_score_and_share_right() -> None:
    assert ev.calibration_error([(0.8, 1.0)] * 8 + [(0.8, 0.0)] * 2) == pytest.approx(0.0)  # 80% sure, 80% right
    assert ev.calibration_error([(0.95, 0.0)] * 5 + [(0.05, 1.0)] * 5) == pytest.approx(0.95)  # backwards
    # Two bins, each half the rows: |0.9 - 0.5| and |0.3 - 0.3| weighted equally.
    rows = [(0.9, 1.0), (0.9, 0.0)] * 5 + [(0.3, 1.0)] * 3 + [(0.3, 0.0)] * 7
    assert ev.calibration_error(rows) == pytest.approx(0.2)
    assert ev.calibration_error([(1.0, 1.0)]) == 0.0 and ev.calibration_error([]) == 0.0


def test_inside_gold_counts_a_part_of_a_long_gold_clause() -> None:
    clause = ("This Agreement shall be governed by the laws of the State of Kansas.",)
    assert ev.inside_gold("the State of Kansas", clause) == 1.0  # "the" is dropped by normalisation
    assert ev.inside_gold("Kansas law", clause) == 0.0 and ev.inside_gold("", clause) == 0.0
    assert ev.inside_gold("Kan", clause) == 0.0  # words, not characters


def test_figures_by_category_where_a_set_has_categories() -> None:
    def said(category: str, text: str, answers: tuple[str, ...]) -> Prediction:
        return Prediction(Question(text, "?", answers, None, category=category), text, None, [], 0.5, text)

    figures = ev.score([said("Parties", "Acme", ("Acme",)), said("Parties", "Beta", ("Acme Ltd",)),
                        said("Governing Law", "", ())], reader_only=True)
    assert figures["by_category"] == {"Governing Law": {"n": 1, "exact_match": 100.0, "f1": 100.0, "inside_gold": None},
                                      "Parties": {"n": 2, "exact_match": 50.0, "f1": 50.0, "inside_gold": 50.0}}
    assert "by_category" not in ev.score([said("", "Acme", ("Acme",))], reader_only=True)
