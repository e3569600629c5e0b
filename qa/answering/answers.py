"""From retrieved passages to an `Answer`: the passages read best first (several questions' or documents' lists in
one batch of the reader), and their spans ranked by the probability that each is right."""

from __future__ import annotations

from qa.answering.evidence import Candidate
from qa.answering.reader import Reader
from qa.answering.selector import Selector
from qa.types import Answer, Hit, Span


def read_best_first(reader: Reader, question: str, hit_lists: list[list[Hit]], spans: int,
                    stop: float) -> list[list[list[Span]]]:
    """For each list of passages, the spans of those read: best first, until one holds a span of `stop` confidence.

    A span this sure is rarely beaten by one in a passage ranked lower, so those are not read. The rule leaves
    the threshold out, so that one reading serves every threshold (`qa eval --choose-threshold`). The lists' next
    passages are read together, in one batch of the reader: across documents, the reader's batches stay full.
    """
    read: list[list[list[Span]]] = [[] for _ in hit_lists]
    live = [i for i, hits in enumerate(hit_lists) if hits]
    depth = 0
    while live:
        found = reader.run_many([(question, [hit_lists[i][depth].chunk.text]) for i in live], top_k=spans)
        going = []
        for i, spans_found in zip(live, found):
            read[i].append(spans_found)
            sure = stop < 1.0 and any(sp.confidence >= stop for sp in spans_found)
            if not sure and depth + 1 < len(hit_lists[i]):
                going.append(i)
        live, depth = going, depth + 1
    return read


def rank_answer(question: str, hits: list[Hit], candidates: list[Candidate], passages_read: int,
                selector: Selector | None, threshold: float, alternatives: int) -> Answer:
    """The best of the candidates found in the passages read (`gather`), ranked across them by the probability
    that each is right (the answer selector's, else the reader's confidence against no answer); an abstention
    below `threshold`."""
    if not hits:  # nothing to read, so no candidate that could be right
        return Answer(text="", score=0.0)
    if selector is not None:
        probabilities = selector.probabilities(question, candidates, passages_read)
    else:  # the reader's own confidence against no answer ranks and decides
        probabilities = [c.span.confidence for c in candidates]
    ranked = sorted(zip(probabilities, range(len(candidates))), key=lambda pc: (-pc[0], pc[1]))
    answers = _distinct([_to_answer(candidates[i], float(p)) for p, i in ranked])
    kept = answers[: alternatives + 1]
    if not kept or kept[0].score < threshold:  # the likeliest falls short
        return Answer(text="", score=kept[0].score if kept else 0.0, alternatives=kept, passages=hits)
    best = kept[0]
    best.alternatives = kept[1:]
    best.passages = hits
    return best


def _to_answer(candidate: Candidate, probability: float) -> Answer:
    span, chunk = candidate.span, candidate.hit.chunk
    return Answer(text=span.text, score=probability, source=chunk.source, start=chunk.start + span.start,
                  end=chunk.start + span.end, context=chunk.text, context_start=chunk.start)


def _distinct(answers: list[Answer]) -> list[Answer]:
    """Drop a candidate that overlaps a better one in the same file: the same answer found again in an
    overlapping chunk, or another cut of it ("Laura Aron" or "Mrs" under "Mrs Laura Aron")."""
    taken: dict[str | None, list[tuple[int, int]]] = {}
    kept = []
    for answer in answers:
        ranges = taken.setdefault(answer.source, [])
        if not any(answer.start < end and start < answer.end for start, end in ranges):
            ranges.append((answer.start, answer.end))
            kept.append(answer)
    return kept
