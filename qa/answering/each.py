"""One question asked of every document of a scope, one `Answer` each: retrieved and read in batches across
documents, so that a scope of thousands of documents costs a few searches and full batches of the reader, not a
search and a half-empty batch per document."""

from __future__ import annotations

import logging
from collections.abc import Callable

from qa.answering.answers import rank_answer, read_best_first
from qa.answering.evidence import gather
from qa.answering.reader import Reader
from qa.answering.retriever import Retriever
from qa.answering.selector import Selector
from qa.config import Settings
from qa.errors import ModelError, QuestionError
from qa.types import Answer, Hit

log = logging.getLogger(__name__)

# Documents searched together (every chunk of theirs ranked at once, `Retriever.run_each`), and documents read
# together: their passages fill the reader's batches, and progress is told after each such group.
SEARCH_DOCUMENTS = 256
READ_DOCUMENTS = 16

Progress = Callable[[int, int], None]  # (documents done, documents in all)
Passages = Callable[[list[Hit], str], list[Hit]]  # (a document's hits, the document) -> the passages to read


def answer_each(question: str, sources: list[str], retriever: Retriever, reader: Reader, selector: Selector | None,
                threshold: float, settings: Settings, progress: Progress | None = None,
                passages: Passages | None = None) -> list[Answer]:
    """The answer to `question` in each of these documents, asked of it alone, in their order; each Answer's
    `scope` is its document. A document whose passages cannot be read gets an Answer with `error`. `passages(hits,
    source)`, when given, makes a document's retrieved hits the passages to read (`Assistant.passages`)."""
    answers: list[Answer] = []
    if progress:
        progress(0, len(sources))
    for at in range(0, len(sources), SEARCH_DOCUMENTS):
        searched = sources[at:at + SEARCH_DOCUMENTS]
        hits = retriever.run_each(question, searched, settings.top_k)
        if passages is not None:
            hits = {source: passages(found, source) for source, found in hits.items()}
        for start in range(0, len(searched), READ_DOCUMENTS):
            group = searched[start:start + READ_DOCUMENTS]
            answers += _answer_or_fail(question, group, hits, reader, selector, threshold, settings)
            if progress:
                progress(len(answers), len(sources))
    return answers


def _answer_or_fail(question: str, group: list[str], hits: dict[str, list[Hit]], reader: Reader,
                    selector: Selector | None, threshold: float, settings: Settings) -> list[Answer]:
    try:
        return _answer_group(question, group, hits, reader, selector, threshold, settings)
    except (QuestionError, ModelError):  # the question's or the models' fault: no document would do better
        raise
    except Exception:  # one document's passages broke the batch: each is read alone, the others still answer
        log.exception("reading %d documents together failed; reading them one at a time", len(group))
    answers = []
    for source in group:
        try:
            answers += _answer_group(question, [source], hits, reader, selector, threshold, settings)
        except (QuestionError, ModelError):
            raise
        except Exception as exc:
            answers.append(failed(source, f"{source} could not be read: {exc}"))
    return answers


def _answer_group(question: str, group: list[str], hits: dict[str, list[Hit]], reader: Reader,
                  selector: Selector | None, threshold: float, settings: Settings) -> list[Answer]:
    lists = [hits[source] for source in group]
    read = read_best_first(reader, question, lists, settings.spans_per_passage, settings.stop_confidence)
    answers = []
    for source, found, spans in zip(group, lists, read):
        answer = rank_answer(question, found, gather(found, spans), len(spans), selector, threshold,
                             settings.alternatives)
        answer.scope = [source]
        answers.append(answer)
    return answers


def failed(source: str, error: str) -> Answer:
    """The Answer of a document that could not be asked: no candidate, and why."""
    return Answer(text="", score=0.0, scope=[source], error=error)
