"""Decoding: from the reader's start and end logits over its windows to the best answer spans of each passage.

Spans begin and end at word edges (`word_bounds`) and keep to the rules of `qa.answering.spans` (brackets
paired, no bare section numbers or list markers, no sentence punctuation at their edges). Scores follow
Haystack 2's ExtractiveReader: a span's probability is the sigmoid of its summed start and end logits times a
calibration factor, so spans from different passages are comparable.
"""

from __future__ import annotations

import heapq
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from qa.answering.spans import SpanText, glued_edges
from qa.types import Span

if TYPE_CHECKING:
    from qa.answering.reader import Windows


def word_bounds(windows: Windows, passages: list[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per window, which tokens may start and which may end an answer: those at the edges of a word.

    A span cut inside a word ("VID-19" out of "COVID-19") is never an exact answer. Words are the
    tokenizer's own (split at spaces and punctuation; each CJK character one word), and a word's edges
    are looked up over all windows of its passage, since a window may begin inside a word. Given the
    `passages`, words the tokenizer splits at a joining Unicode hyphen ("HCoV‐HKU1") are one word.
    """
    keys, chars = [], []  # per window: a (passage, word) key per token (-1 outside the passage), char offsets
    for p, offsets, words in zip(windows.passage, windows.offsets, windows.words):
        keys.append(np.array([-1 if w is None else (p << 32) + w for w in words], dtype=np.int64))
        chars.append(np.array([(0, 0) if o is None else o for o in offsets], dtype=np.int64).reshape(-1, 2))
    flat_keys, flat_chars = np.concatenate(keys), np.concatenate(chars)
    unique, inverse = np.unique(flat_keys, return_inverse=True)
    first = np.full(len(unique), np.iinfo(np.int64).max)
    last = np.full(len(unique), -1)
    np.minimum.at(first, inverse, flat_chars[:, 0])
    np.maximum.at(last, inverse, flat_chars[:, 1])
    glued = {p: np.array(edges) for p, text in enumerate(passages or []) if (edges := glued_edges(text))}
    bounds, at = [], 0
    for p, k, c in zip(windows.passage, keys, chars):
        word = inverse[at:at + len(k)]
        inside = k >= 0
        can_start, can_end = inside & (c[:, 0] == first[word]), inside & (c[:, 1] == last[word])
        if p in glued:
            can_start &= ~np.isin(c[:, 0], glued[p])
            can_end &= ~np.isin(c[:, 1], glued[p])
        bounds.append((can_start, can_end))
        at += len(k)
    return bounds


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def decode_spans(start_logits: np.ndarray, end_logits: np.ndarray, windows: Windows, passages: list[str],
                 max_answer_tokens: int, calibration: float, top_k: int) -> list[Span]:
    """The best distinct spans over all windows, best first; the same answer from two windows counts once.

    Each window's best starts and ends are paired, and the pairs are taken best first through the rules of
    `qa.answering.spans`: a span is trimmed of a leading marker and of edge punctuation, dropped when nothing
    but markers and punctuation is left, and a span that leaves a bracket or quotation mark unpaired is mended
    whichever way the logits prefer: by the best start or end that takes the partner in, or the best that
    leaves the mark out. A trimmed or mended span keeps the score (and logits) of the span it was.
    """
    no_answer: dict[int, float] = {}
    grids: list[_Grid | None] = []
    # (-(start + end logit), window, start token, end token, (start logit, end logit))
    queue: list[tuple[float, int, int, int, tuple[float, float]]] = []
    n_candidates = 20
    for w, (offsets, (can_start, can_end)) in enumerate(zip(windows.offsets, word_bounds(windows, passages))):
        p = windows.passage[w]
        null = float(_sigmoid(calibration * (start_logits[w, 0] + end_logits[w, 0])))
        no_answer[p] = min(no_answer.get(p, 1.0), null)
        if not can_start.any():
            grids.append(None)
            continue
        s = np.where(can_start, start_logits[w, : len(offsets)], -np.inf)
        e = np.where(can_end, end_logits[w, : len(offsets)], -np.inf)
        grids.append(_Grid(s, e, offsets))
        starts = np.argsort(-s)[:n_candidates]
        ends = np.argsort(-e)[:n_candidates]
        for si in starts:
            if not np.isfinite(s[si]):
                break
            for ei in ends:
                if np.isfinite(e[ei]) and si <= ei < si + max_answer_tokens:
                    queue.append((-float(s[si] + e[ei]), w, int(si), int(ei), (float(s[si]), float(e[ei]))))
    heapq.heapify(queue)
    texts: dict[int, SpanText] = {}
    best: dict[tuple[int, int, int], Span] = {}
    seen: set[tuple[int, int, int]] = set()
    while queue and len(best) < top_k:
        negative, w, si, ei, logits = heapq.heappop(queue)
        if (w, si, ei) in seen:
            continue
        seen.add((w, si, ei))
        p, grid = windows.passage[w], grids[w]
        text = texts.get(p) or texts.setdefault(p, SpanText(passages[p]))
        tidied = text.tidy(grid.offsets[si][0], grid.offsets[ei][1], grid.starts, grid.ends)
        if tidied is None:
            continue
        a, b = tidied
        if (mark := text.unpaired(a, b)) is not None:
            # The span's place is the model's: mended, it keeps its score and logits, and competes where it stood.
            if (mended := grid.mend(grid.start_token[a], grid.end_token[b], *mark, max_answer_tokens)) is not None:
                heapq.heappush(queue, (negative, w, *mended, logits))
            continue
        if (p, a, b) not in best:
            score = float(_sigmoid(-calibration * negative))
            best[(p, a, b)] = Span(text=passages[p][a:b], start=a, end=b, score=score, no_answer_score=no_answer[p],
                                   passage=p, start_logit=logits[0], end_logit=logits[1])
    return list(best.values())


class _Grid:
    """One window's start and end logits (-inf where a span may not begin or end), with the characters where
    spans may begin and end and the tokens that do."""

    def __init__(self, s: np.ndarray, e: np.ndarray, offsets: list[tuple[int, int] | None]) -> None:
        self.s, self.e, self.offsets = s, e, offsets

    @cached_property
    def start_token(self) -> dict[int, int]:
        """The token that begins at each character where a span may begin."""
        return {self.offsets[t][0]: int(t) for t in np.flatnonzero(np.isfinite(self.s))}

    @cached_property
    def end_token(self) -> dict[int, int]:
        """The token that ends at each character where a span may end."""
        return {self.offsets[t][1]: int(t) for t in np.flatnonzero(np.isfinite(self.e))}

    @cached_property
    def starts(self) -> list[int]:
        return sorted(self.start_token)

    @cached_property
    def ends(self) -> list[int]:
        return sorted(self.end_token)

    @cached_property
    def first(self) -> np.ndarray:  # each token's first character; -1 outside the passage
        return np.array([o[0] if o is not None else -1 for o in self.offsets])

    @cached_property
    def last(self) -> np.ndarray:  # each token's end; -1 outside the passage
        return np.array([o[1] if o is not None else -1 for o in self.offsets])

    def mend(self, si: int, ei: int, mark: int, partner: int, max_tokens: int) -> tuple[int, int] | None:
        """The span (si, ei), which holds the mark at character `mark` but not its partner, mended whichever way
        scores best: the best boundary that takes the partner in, or the best start after the mark or end
        before it, which leave it out ("twelve (12) months", "months" or "12" for "12) months")."""
        at, inside = np.arange(len(self.s)), self.first >= 0
        after = np.where(inside & (self.first > mark) & (at <= ei), self.s, -np.inf)  # starts that leave it out
        before = np.where(inside & (self.last <= mark) & (at >= si), self.e, -np.inf)  # ends that do
        if partner < mark:  # it closes what opened before the span: a start at or before the partner takes it in
            take = np.where(inside & (self.first <= partner) & (at > ei - max_tokens), self.s, -np.inf)
            options = [(int(np.argmax(take)), ei), (int(np.argmax(after)), ei), (si, int(np.argmax(before)))]
        else:  # it opens what closes after the span: an end at or after the partner takes it in
            take = np.where(inside & (self.last > partner) & (at < si + max_tokens), self.e, -np.inf)
            options = [(si, int(np.argmax(take))), (int(np.argmax(after)), ei), (si, int(np.argmax(before)))]
        score, start, end = max((self.s[a] + self.e[b], a, b) for a, b in options)
        return (start, end) if np.isfinite(score) else None
