"""Evaluation: SQuAD-normalised EM and F1, retrieval recall, abstention, and the runners behind `qa eval`."""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, replace

from qa.answering.normalize import normalize_answer
from qa.eval.questions import Question
from qa.types import Answer


# ---- metrics: EM and F1 after the official SQuAD normalisation -------------------------------------

def exact_match(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """1.0 if the prediction equals any gold answer after normalisation; an abstention matches no answers."""
    if not golds:
        return float(prediction == "")
    return max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)


def f1_score(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """Token-overlap F1, the maximum over gold answers; an abstention scores 1.0 only on no answers."""
    if not golds:
        return float(prediction == "")
    return max(_f1(prediction, g) for g in golds)


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _pct(values: list[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), 2) if values else None


# ---- runners -------------------------------------------------------------------------------------

@dataclass
class Prediction:
    """What the system said for one question."""

    question: Question
    text: str
    source: str | None
    retrieved: list[str]  # sources of the retrieved passages, best first
    score: float | None = None  # the probability that the best candidate is right, answered or declined
    best: str = ""  # the best candidate's text, answered or declined; "" when there was none
    answer: Answer | None = None  # the pipeline's Answer, for reports: its passage, offsets, candidates


def score(predictions: list[Prediction], reader_only: bool = False) -> dict:
    """The metrics of the contract, in percent, plus `n`."""
    em = [exact_match(p.text, p.question.answers) for p in predictions]
    f1 = [f1_score(p.text, p.question.answers) for p in predictions]
    answerable = [p for p in predictions if p.question.answerable]
    unanswerable = [p for p in predictions if not p.question.answerable]
    result = {"exact_match": _pct(em), "f1": _pct(f1)}
    if not reader_only:
        # A question whose gold file is not given cannot be scored on its source: it is left out (None
        # when no question has one), not counted a miss.
        result["source_accuracy"] = _pct([float(p.source == p.question.source) for p in answerable
                                          if p.question.source is not None])
        retrieval = score_retrieval(answerable)
        for key in ("recall@5", "mrr", "passages_per_question"):
            result[key] = retrieval[key]
    result["has_answer_f1"] = _pct([f1_score(p.text, p.question.answers) for p in answerable])
    result["inside_gold"] = _pct([inside_gold(p.text, p.question.answers) for p in answerable])
    result["no_answer_accuracy"] = _pct([float(p.text == "") for p in unanswerable])
    result.update(selective(predictions))
    result["n"] = len(predictions)
    if categories := sorted({p.question.category for p in predictions if p.question.category}):
        result["by_category"] = {c: _brief([p for p in predictions if p.question.category == c]) for c in categories}
    return result


def _brief(predictions: list[Prediction]) -> dict:
    answerable = [p for p in predictions if p.question.answerable]
    return {"n": len(predictions), "exact_match": _pct([exact_match(p.text, p.question.answers) for p in predictions]),
            "f1": _pct([f1_score(p.text, p.question.answers) for p in predictions]),
            "inside_gold": _pct([inside_gold(p.text, p.question.answers) for p in answerable])}


def inside_gold(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """1.0 if the prediction's words, normalised, run inside one gold answer's: a part of a long gold clause (CUAD's
    are whole clauses, which an exact match of a short answer never reaches)."""
    words = normalize_answer(prediction).split()
    for gold in golds if words else ():
        g = normalize_answer(gold).split()
        if any(g[i:i + len(words)] == words for i in range(len(g) - len(words) + 1)):
            return 1.0
    return 0.0


def scored(predictions: list[Prediction]) -> list[tuple[float, float]]:
    """(score, 1.0 if an exact match else 0.0) of each question's best candidate, answered or declined, surest
    first; a question with no candidate is left out, and any candidate of a question with no answer is wrong."""
    return sorted(((p.score, exact_match(p.best, p.question.answers) if p.question.answerable else 0.0)
                   for p in predictions if p.best and p.score is not None), key=lambda sc: -sc[0])


def risk_coverage(predictions: list[Prediction]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, exact-match precision) as a falling threshold answers one more question at a time.

    Questions are taken by their best candidate's score, surest first; a question with no candidate is never
    answered. Answering a question that has no answer is an error, as is any answer not an exact match.
    """
    curve, right = [], 0.0
    for k, (threshold, correct) in enumerate(scored(predictions), start=1):
        right += correct
        curve.append((threshold, k / len(predictions), right / k))
    return curve


def selective(predictions: list[Prediction], precision: float = 0.9) -> dict:
    """Figures that compare rankers without a threshold: the area under the risk-coverage curve (AURC, the mean
    risk over the coverages reached; lower is better) and the largest coverage whose precision is at least 90%."""
    curve = risk_coverage(predictions)
    if not curve:
        return {"aurc": None, "coverage_at_90": None, "ece": None}
    aurc = sum(1.0 - prec for _, _, prec in curve) / len(curve)
    reached = [cov for _, cov, prec in curve if prec >= precision]
    return {"aurc": round(100.0 * aurc, 2), "coverage_at_90": round(100.0 * max(reached, default=0.0), 2),
            "ece": round(calibration_error(scored(predictions)), 4)}


def calibration_error(rows: list[tuple[float, float]], bins: int = 10) -> float:
    """The expected calibration error of (score, 1.0 if right) rows: over `bins` equal score bins, the gap between
    a bin's mean score and its share right, weighted by its share of the rows. 0 when a score means what it says."""
    if not rows:
        return 0.0
    gaps = [[0.0, 0.0, 0] for _ in range(bins)]
    for s, ok in rows:
        b = gaps[min(int(s * bins), bins - 1)]
        b[0], b[1], b[2] = b[0] + s, b[1] + ok, b[2] + 1
    return sum(abs(total - right) for total, right, _ in gaps) / len(rows)


def at_threshold(predictions: list[Prediction], threshold: float) -> list[Prediction]:
    """The predictions as a higher threshold would give them: answers scored below it become abstentions."""
    return [replace(p, text="", source=None)
            if p.text and p.score is not None and p.score < threshold else p for p in predictions]


def choose_threshold(predictions: list[Prediction]) -> float:
    """The threshold in [0, 1] that gives these never-abstaining predictions their best F1; ties go to the lowest.

    Declining every answer is a candidate too: the least float above the top score. When that score is 1.0
    no threshold in [0, 1] declines it (an answer is given at or above the threshold), so none is offered.
    """
    # (score, F1 if answered, F1 if abstaining), rising; a question with no answer at all scores -1.
    rows = sorted((p.score if p.text and p.score is not None else -1.0,
                   f1_score(p.text, p.question.answers), f1_score("", p.question.answers)) for p in predictions)
    total = sum(answered if score >= 0 else abstaining for score, answered, abstaining in rows)  # at 0
    best_t, best = 0.0, total
    for i, (score, answered, abstaining) in enumerate(rows):
        if score < 0:
            continue
        total += abstaining - answered  # a threshold above this score declines the question
        following = rows[i + 1][0] if i + 1 < len(rows) else math.nextafter(score, math.inf)
        if score < following <= 1.0 and total > best + 1e-9:
            best_t, best = following, total
    return best_t


def run_reader_only(reader, questions: list[Question], threshold: float | None = None,
                    batch: int = 32) -> list[Prediction]:
    """Read every question against its own gold paragraph, as SQuAD scores a reader."""
    reader.warm_up()
    threshold = reader.threshold if threshold is None else threshold
    predictions = []
    for i in range(0, len(questions), batch):
        group = questions[i:i + batch]
        results = reader.run_many([(q.question, [q.context]) for q in group], top_k=1)
        for q, spans in zip(group, results):
            best = spans[0] if spans else None
            keep = best is not None and best.answers(threshold)
            predictions.append(Prediction(q, best.text if keep else "", q.source, [q.source],
                                          None if best is None else best.confidence, best.text if best else ""))
    return predictions


def run_pipeline(assistant, questions: list[Question], progress=None, per_document: bool = False) -> list[Prediction]:
    """Ask every question through the whole pipeline: retrieval, reading, abstention; with `per_document`, each of
    its own document (`Question.doc`) alone."""
    predictions = []
    for i, q in enumerate(questions):
        answer = assistant.ask(q.question, sources=[q.doc] if per_document else None)
        best = answer.text or (answer.alternatives[0].text if answer.alternatives else "")
        predictions.append(Prediction(q, answer.text, answer.source, [h.chunk.source for h in answer.passages],
                                      answer.score if best else None, best, answer))
        if progress:
            progress(i + 1, len(questions))
    return predictions


def run_retrieval(assistant, questions: list[Question], batch: int = 64, per_document: bool = False) -> list[Prediction]:
    """Retrieve for every answerable question without reading: for measuring the retriever alone; with
    `per_document`, each within its own document (`Question.doc`), the questions of a document batched."""
    answerable = [q for q in questions if q.answerable]
    groups: dict[str | None, list[Question]] = {}
    for q in answerable:
        groups.setdefault(q.doc if per_document else None, []).append(q)
    found: dict[int, list[str]] = {}
    for doc, asked in groups.items():
        for i in range(0, len(asked), batch):
            group = asked[i:i + batch]
            hits = assistant.retrieve_many([q.question for q in group], sources=None if doc is None else [doc])
            found.update({id(q): [h.chunk.source for h in row] for q, row in zip(group, hits)})
    return [Prediction(q, "", None, found[id(q)]) for q in answerable]


def gold_rank(p: Prediction) -> int | None:
    """Where the gold source came among the retrieved passages (1 is first), or None."""
    return next((r for r, s in enumerate(p.retrieved, 1) if s == p.question.source), None)


def score_retrieval(predictions: list[Prediction]) -> dict:
    """recall@1, recall@5 and MRR of the gold source (over questions that name one), in percent; passages
    returned per question; `n`."""
    ranks = [gold_rank(p) for p in predictions if p.question.source is not None]
    return {"recall@1": _pct([float(r == 1) for r in ranks]),
            "recall@5": _pct([float(r is not None and r <= 5) for r in ranks]),
            "mrr": _pct([1.0 / r if r else 0.0 for r in ranks]),
            "passages_per_question": round(sum(len(p.retrieved) for p in predictions) / max(1, len(predictions)), 2),
            "n": len(predictions)}


def prediction_rows(predictions: list[Prediction], reading: bool = True) -> list[dict]:
    """One JSON-ready row per question, for error analysis: the question, its gold, what came back, its scores."""
    rows = []
    for p in predictions:
        q = p.question
        row = {"id": q.id, "question": q.question, "answers": list(q.answers), "source": q.source}
        if reading:
            row.update(prediction=p.text, predicted_source=p.source, score=p.score, best=p.best,
                       exact_match=exact_match(p.text, q.answers), f1=f1_score(p.text, q.answers))
        row.update(retrieved=p.retrieved, gold_rank=gold_rank(p))
        rows.append(row)
    return rows


def timed(fn, *args, **kwargs):
    """Run fn and return (result, seconds)."""
    t = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t
