"""`Assistant`: retriever -> reader -> `Answer`, with the citation; and the default `answer()`."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

from qa.config import Settings
from qa.documents import TITLE_MAX_CHARS, document_title
from qa.embedder import Embedder
from qa.errors import CorpusError, QuestionError
from qa.indexer import (IndexReport, Progress, changed_since_indexed, check_corpus, discard_index, open_store,
                        refresh)
from qa.reader import Reader
from qa.retriever import Retriever
from qa.store import DocumentInfo, IndexDamagedError, IndexMismatchError, OtherCorpusError
from qa.store_interface import IndexStore
from qa.types import Answer, Hit, Span

log = logging.getLogger(__name__)


class Assistant:
    """Answers questions about one corpus folder; models and index load on first use (`warm_up`)."""

    def __init__(self, corpus: str | Path | None = None, index_dir: str | Path | None = None,
                 **settings: object) -> None:
        self.settings = Settings.load(corpus=corpus, index_dir=index_dir, **settings)
        s = self.settings
        self.embedder = Embedder(s.embedder_model, s.device)
        self.reader = Reader(s.reader_model, s.device, s.max_seq_len, s.doc_stride, s.max_answer_tokens,
                             s.reader_batch_size)
        self._store: IndexStore | None = None
        self._retriever: Retriever | None = None
        self._indexed = False  # refreshed once per Assistant; later changes come through `index()`
        self._lock = threading.RLock()

    # ---- lifecycle ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the models and open, building or refreshing, the index."""
        self.reader.warm_up()
        self.index()

    @property
    def store(self) -> IndexStore:
        """The open index (opened, not refreshed, on first use)."""
        if self._store is not None:  # without the lock, which indexing holds: questions go on meanwhile
            return self._store
        with self._lock:
            if self._store is None:
                store = open_store(self.settings, self.embedder)
                self._retriever = Retriever(store, self.embedder, self.settings.retrieval, self.settings.candidates,
                                            self.settings.dense_weight, self.settings.min_score_ratio)
                self._store = store  # last: a question that finds the store finds its retriever too
            return self._store

    def index(self, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index in line with the corpus folder; only changed files are embedded again."""
        with self._lock:
            check_corpus(self.settings.corpus)  # before the index folder is made for a corpus that is not there
            if rebuild and self._store is None:
                try:
                    self.store  # noqa: B018 - opens the index
                except (IndexDamagedError, IndexMismatchError) as exc:  # a rebuild starts it afresh, as advised
                    log.warning("%s", exc)
                    discard_index(self.settings)
                except OtherCorpusError:  # and makes it this folder's, as that error advises
                    discard_index(self.settings)
            report = refresh(self.store, self.embedder, self.settings, rebuild=rebuild, progress=progress)
            self._indexed = True
        return report

    def _ensure_index(self) -> None:
        if not self._indexed:
            self.index()

    # ---- asking ------------------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        """The question stripped, or QuestionError when it cannot be asked."""
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty: type a question about the documents")
        question = clean_question(question)
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"the question is {len(question):,} characters long; "
                                f"ask in at most {self.settings.max_question_chars:,}")
        return question

    def retrieve(self, question: str, top_k: int | None = None) -> list[Hit]:
        """The passages the reader would read for this question."""
        return self.retrieve_many([question], top_k)[0]

    def retrieve_many(self, questions: list[str], top_k: int | None = None) -> list[list[Hit]]:
        """`retrieve` for several questions at once, with their query embeddings batched."""
        questions = [self.check_question(q) for q in questions]
        self._ensure_index()
        if self.store.chunk_count() == 0:
            raise CorpusError(f"no readable documents in {self.settings.corpus}: add .txt, .md, .html, "
                              ".pdf or .docx files there and ask again")
        return self._retriever.run_batch(questions, top_k or self.settings.top_k)

    def ask(self, question: str) -> Answer:
        """Answer from the documents with an exact, cited span, or abstain with `text == ""`."""
        question = self.check_question(question)
        self.reader.warm_up()  # a missing reader fails before any indexing work
        hits = self.retrieve(question)
        return self.read(question, hits)

    def read(self, question: str, hits: list[Hit]) -> Answer:
        """Read the retrieved passages, best first, and rank the spans across documents by their confidence.

        An answer never cites a file that changed after it was indexed: the index is refreshed and the
        question asked again. (Other changes to the folder are seen on `index()`.)
        """
        answer = self._read(question, hits)
        cited = [a.source for a in (answer, *answer.alternatives) if a.source]
        if cited and changed_since_indexed(self.store, self.settings, cited):
            log.info("a cited file changed since it was indexed: refreshing the index")
            self.index()
            answer = self._read(question, self.retrieve(question))
        return answer

    def _read(self, question: str, hits: list[Hit]) -> Answer:
        if not hits:  # nothing to read: as sure of "no answer" as when nothing read holds a span
            return Answer(text="", score=1.0)
        # A span this sure is rarely beaten by one in a passage ranked lower, so those are not read. The rule
        # leaves the threshold out, so that one reading serves every threshold (`qa eval --choose-threshold`).
        stop = self.settings.stop_confidence
        spans: list[Span] = []
        for i, hit in enumerate(hits):
            found = self.reader.run(question, [hit.chunk.text], top_k=4 * (self.settings.alternatives + 1))
            spans += [replace(sp, passage=i) for sp in found]
            if stop < 1.0 and any(sp.confidence >= stop for sp in found):
                break
        # Ranked by the number that is shown and thresholded: a span against its own passage's no-answer.
        ranked = sorted(spans, key=lambda sp: -sp.confidence)
        candidates = _distinct([_to_answer(span, hits[span.passage]) for span in ranked])
        threshold = self.settings.answer_threshold
        threshold = self.reader.threshold if threshold is None else threshold
        alternatives = [a for a, _ in candidates][: self.settings.alternatives + 1]
        if not candidates or not candidates[0][1].answers(threshold):  # the surest span falls short
            no_answer = 1.0 - candidates[0][1].confidence if candidates else 1.0
            return Answer(text="", score=no_answer, alternatives=alternatives, passages=hits)
        best = alternatives[0]
        best.alternatives = alternatives[1:]
        best.passages = hits
        return best

    # ---- the corpus --------------------------------------------------------------------------

    def documents(self, limit: int | None = None) -> dict[str, DocumentInfo]:
        """The indexed documents by source, in order; all of them, or the first `limit`."""
        self._ensure_index()
        return self.store.documents(limit)

    def summary(self) -> tuple[int, int, float | None]:
        """(documents, chunks, when a document was last indexed), without listing them."""
        self._ensure_index()
        return self.store.summary()

    def titles(self, sources: list[str]) -> dict[str, str]:
        """The titles of those of these indexed documents whose first line reads as one."""
        if not sources:
            return {}
        # Twice a title's length: room for leading marks, and to see a first line run past the limit.
        heads = self.store.document_heads(list(dict.fromkeys(sources)), 2 * TITLE_MAX_CHARS)
        return {source: title for source, head in heads.items() if (title := document_title(head))}

    def document_text(self, source: str) -> str | None:
        """The cleaned text of an indexed document (what answer offsets point into), or None."""
        return self.store.document_text(source)


def clean_question(text: str) -> str:
    """The question as it is asked: white space folded, and bytes that were not UTF-8 (which Python hands
    over from a terminal or pipe as lone surrogates, and no tokenizer takes) replaced by "?"."""
    return " ".join(text.encode("utf-8", "replace").decode("utf-8").split())


def _to_answer(span: Span, hit: Hit) -> tuple[Answer, Span]:
    chunk = hit.chunk
    return Answer(text=span.text, score=span.confidence, source=chunk.source, start=chunk.start + span.start,
                  end=chunk.start + span.end, context=chunk.text, context_start=chunk.start), span


def _distinct(candidates: list[tuple[Answer, Span]]) -> list[tuple[Answer, Span]]:
    """Drop a candidate that overlaps a better one in the same file: the same answer found again in an
    overlapping chunk, or another cut of it ("Laura Aron" or "Mrs" under "Mrs Laura Aron")."""
    taken: dict[str | None, list[tuple[int, int]]] = {}
    kept = []
    for answer, span in candidates:
        ranges = taken.setdefault(answer.source, [])
        if not any(answer.start < end and start < answer.end for start, end in ranges):
            ranges.append((answer.start, answer.end))
            kept.append((answer, span))
    return kept


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The shared Assistant over `seeds/` (or QA_CORPUS), built once."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def answer(question: str) -> Answer:
    """Answer a question about the default corpus; builds or refreshes its index on first use."""
    return default_assistant().ask(question)
