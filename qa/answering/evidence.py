"""The evidence for each candidate answer: what the reader, the retriever, the other passages and the question
say about it, as one row of numbers per candidate for the answer selector (`qa.answering.selector`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qa.answering.normalize import normalize_answer
from qa.types import Hit, Span

FEATURE_VERSION = 1  # raise it when a feature's meaning changes: selectors trained before are refused

GROUPS = {
    "reader": ("span_logit", "start_logit", "end_logit", "null_logit", "confidence_logit", "passage_margin",
               "rank_in_passage", "log_words", "gap_to_best"),
    "retrieval": ("fused_score", "dense_score", "bm25_share", "log_passage_rank", "log_dense_rank", "log_bm25_rank",
                  "log_passages_read"),
    "agreement": ("log_agreeing_passages", "agreeing_confidence", "agreeing_share"),  # across the passages read
    "question": ("question_overlap", "fit_who", "fit_when", "fit_number", "fit_where"),
}
FEATURES = tuple(name for names in GROUPS.values() for name in names)


@dataclass(frozen=True)
class Candidate:
    """A span the reader found, with the passage it came from and that passage's place in retrieval."""

    span: Span
    hit: Hit
    rank: int  # the passage's place among the retrieved ones, 0 first


def gather(hits: list[Hit], spans: list[list[Span]]) -> list[Candidate]:
    """Every span of every passage read: `spans[i]` are the reader's spans in `hits[i]`, best first."""
    return [Candidate(span, hits[i], i) for i, found in enumerate(spans) for span in found]


def features(question: str, candidates: list[Candidate], passages_read: int) -> np.ndarray:
    """One row of `FEATURES` per candidate, in their order; `passages_read` counts those that gave none too."""
    if not candidates:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    logits = [_logit(c.span.score) for c in candidates]
    confidences = [_logit(c.span.score) - _logit(c.span.no_answer_score) for c in candidates]
    best_confidence = max(confidences)
    by_passage: dict[int, list[float]] = {}
    for c, logit in zip(candidates, logits):
        by_passage.setdefault(c.rank, []).append(logit)
    for values in by_passage.values():
        values.sort(reverse=True)
    bm25_best = max((c.hit.bm25_score or 0.0) for c in candidates) or 1.0
    # Per normalised answer: the passages that propose it, and its best confidence in each.
    agreeing: dict[str, dict[int, float]] = {}
    for c, confidence in zip(candidates, confidences):
        per_passage = agreeing.setdefault(normalize_answer(c.span.text), {})
        per_passage[c.rank] = max(per_passage.get(c.rank, 0.0), _sigmoid(confidence))
    total = sum(sum(p.values()) for p in agreeing.values()) or 1.0
    kind = question_kind(question)
    asked = set(_content_words(question))
    rows = []
    for i, c in enumerate(candidates):
        ranked = by_passage[c.rank]
        within = sum(1 for v in ranked if v > logits[i])
        # The margin to the passage's next span: over the runner-up for its best span, under the best for the rest.
        margin = _clip(logits[i] - (ranked[1] if within == 0 else ranked[0])) if len(ranked) > 1 else 10.0
        support = agreeing[normalize_answer(c.span.text)]
        words = _content_words(c.span.text)
        rows.append([
            logits[i], c.span.start_logit, c.span.end_logit, _logit(c.span.no_answer_score), confidences[i],
            margin, math.log1p(within), math.log1p(len(c.span.text.split())), confidences[i] - best_confidence,
            c.hit.score, c.hit.dense_score or 0.0, (c.hit.bm25_score or 0.0) / bm25_best, math.log1p(c.rank),
            math.log1p(c.hit.dense_rank or 1000), math.log1p(c.hit.bm25_rank or 1000), math.log1p(passages_read),
            math.log1p(len(support)), sum(support.values()), sum(support.values()) / total,
            sum(w in asked for w in words) / len(words) if words else 0.0,
            *type_fit(kind, c.span.text),
        ])
    return np.asarray(rows, dtype=np.float64)


# ---- the question's kind and the candidate's shape -----------------------------------------------

_KINDS = (  # first match wins: "how many years" asks for a number, "what year" for a date
    ("number", re.compile(r"\bhow (many|much|long|old|far|large|big|tall|high|often|deep|wide)\b|"
                          r"\bwhat (percentage|percent|proportion|number|amount|fraction)\b")),
    ("when", re.compile(r"\bwhen\b|\b(what|which) (year|date|day|month|century|decade|time|period|era)\b")),
    ("who", re.compile(r"\bwho(m|se)?\b")),
    ("where", re.compile(r"\bwhere\b|\b(what|which) (country|city|place|state|region|town|location|continent|"
                         r"island|river|county|province|nation)\b")),
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million", "billion",
                 "dozen", "half", "several", "few")
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})s?\b")
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an the of in on at to for by with from and or as is was were be been are that this which what who whom "
    "whose when where why how did do does its it his her their there than into about over".split())


def question_kind(question: str) -> str:
    """What the question asks for: "number", "when", "who", "where", or "other"."""
    q = question.lower()
    return next((kind for kind, pattern in _KINDS if pattern.search(q)), "other")


def type_fit(kind: str, text: str) -> tuple[float, float, float, float]:
    """(who, when, number, where): +1 where the candidate's shape fits the question's kind, -1 where it does
    not, 0 for the kinds the question is not."""
    words = text.split()
    lower = [w.lower().strip(".,;:()\"'") for w in words]
    has_number = bool(_DIGIT.search(text)) or any(w in _NUMBER_WORDS for w in lower)
    is_date = bool(_YEAR.search(text)) or any(w in _MONTHS for w in lower) or "century" in lower
    capitalised = sum(w[:1].isupper() for w in words) / len(words) if words else 0.0
    is_name = capitalised >= 0.5 and not _DIGIT.search(text)
    fits = {"who": is_name, "when": is_date or has_number, "number": has_number, "where": is_name}
    return tuple((1.0 if fits[k] else -1.0) if k == kind else 0.0 for k in ("who", "when", "number", "where"))


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clip(x: float, bound: float = 10.0) -> float:
    return max(-bound, min(bound, x))
