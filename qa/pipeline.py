"""`Assistant`: retriever -> reader -> `Answer`, with the citation; and the default `answer()`."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from qa.ingest.bounded import ParseLimits, parse_bounded
from qa.config import Settings
from qa.ingest.documents import TITLE_MAX_CHARS, Skipped, document_title
from qa.models.embedder import Embedder
from qa.errors import CorpusError, QuestionError, SettingsError
from qa.answering.evidence import Candidate, gather
from qa.answering.head import add_heads
from qa.index.indexer import (IndexReport, Progress, changed_since_indexed, check_corpus, discard_index, open_store,
                        refresh)
from qa.answering.reader import Reader
from qa.answering.retriever import Retriever
from qa.answering.selector import SELECTOR_FILE, Selector
from qa.index.store import DocumentInfo, IndexDamagedError, IndexMismatchError, OtherCorpusError
from qa.index.interface import IndexStore
from qa.types import Answer, Document, Hit, Span

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
        self.selector = Selector(Path(s.selector_model) / SELECTOR_FILE, s.reader_model) if s.selector_model else None
        self._store: IndexStore | None = None
        self._retriever: Retriever | None = None
        self._indexed = False  # refreshed once per Assistant; later changes come through `index()`
        self._uploads: dict[str, Document] = {}  # uploads read before they were saved, for the next index()
        self._lock = threading.RLock()

    # ---- lifecycle ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the models and open, building or refreshing, the index."""
        self._warm_up_readers()
        self.index()

    def _warm_up_readers(self) -> None:
        self.reader.warm_up()
        if self.selector is not None:
            self.selector.warm_up()

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
            uploads, self._uploads = self._uploads, {}
            report = refresh(self.store, self.embedder, self.settings, rebuild=rebuild, progress=progress,
                             parsed=uploads)
            self._indexed = True
        return report

    def read_upload(self, name: str, path: Path) -> Document | Skipped:
        """Read an uploaded file, received at `path`, as the document `name` of the corpus would be, within the
        reading limits; the next `index()` uses this reading instead of reading the file again."""
        doc = parse_bounded(name, Path(name).suffix.lower(), Path(path), ParseLimits.of(self.settings))
        if isinstance(doc, Document):
            self._uploads[name] = doc
        return doc

    def _ensure_index(self) -> None:
        if not self._indexed:
            self.index()

    # ---- asking ------------------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        """The question stripped, or QuestionError when it cannot be asked."""
        if question is not None and not isinstance(question, str):
            hint = ": decode it first (question.decode())" if isinstance(question, (bytes, bytearray)) else ""
            raise QuestionError(f"the question must be text (a str), not {type(question).__name__}{hint}")
        if question is None or not question.strip():
            raise QuestionError("the question is empty: type a question about the documents")
        question = clean_question(question)
        if not question:
            raise QuestionError("the question is empty: it holds only control characters (such as NUL), which are "
                                "not text. Type a question about the documents")
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
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise SettingsError(f"top_k must be a whole number of at least 1 (passages to return), not {top_k!r}")
        self._ensure_index()
        if self.store.chunk_count() == 0:
            raise CorpusError(f"no readable documents in {self.settings.corpus}: add .txt, .md, .html, "
                              ".pdf or .docx files there and ask again")
        return self._retriever.run_batch(questions, self.settings.top_k if top_k is None else top_k)

    def ask(self, question: str) -> Answer:
        """Answer from the documents with an exact, cited span, or abstain with `text == ""`."""
        question = self.check_question(question)
        check_corpus(self.settings.corpus)  # a missing folder fails before the models load, in a second
        self._warm_up_readers()  # a missing reader or selector fails before any indexing work
        hits = self.retrieve(question)
        return self.read(question, hits)

    def read(self, question: str, hits: list[Hit]) -> Answer:
        """Read the retrieved passages, best first, and rank their spans across documents by the probability
        that each is right (the answer selector's).

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
        hits = add_heads(question, hits, self.store, self.settings)  # a question about the document reads its head
        if not hits:  # nothing to read, so no candidate that could be right
            return Answer(text="", score=0.0)
        # A span this sure is rarely beaten by one in a passage ranked lower, so those are not read. The rule
        # leaves the threshold out, so that one reading serves every threshold (`qa eval --choose-threshold`).
        stop = self.settings.stop_confidence
        read: list[list[Span]] = []
        for hit in hits:
            read.append(self.reader.run(question, [hit.chunk.text], top_k=self.settings.spans_per_passage))
            if stop < 1.0 and any(sp.confidence >= stop for sp in read[-1]):
                break
        candidates = gather(hits, read)
        if self.selector is not None:
            probabilities = self.selector.probabilities(question, candidates, len(read))
        else:  # the reader's own confidence against no answer ranks and decides
            probabilities = [c.span.confidence for c in candidates]
        ranked = sorted(zip(probabilities, range(len(candidates))), key=lambda pc: (-pc[0], pc[1]))
        answers = _distinct([_to_answer(candidates[i], float(p)) for p, i in ranked])
        alternatives = answers[: self.settings.alternatives + 1]
        if not alternatives or alternatives[0].score < self.threshold:  # the likeliest falls short
            return Answer(text="", score=alternatives[0].score if alternatives else 0.0,
                          alternatives=alternatives, passages=hits)
        best = alternatives[0]
        best.alternatives = alternatives[1:]
        best.passages = hits
        return best

    @property
    def threshold(self) -> float:
        """The probability below which the assistant abstains: the setting, else the selector's, else the reader's."""
        if self.settings.answer_threshold is not None:
            return self.settings.answer_threshold
        self._warm_up_readers()  # their thresholds are read with their models
        return self.selector.threshold if self.selector is not None else self.reader.threshold

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
    """The question as it is asked: control characters (NUL, escape...) dropped, white space folded, and bytes
    that were not UTF-8 (which Python hands over from a terminal or pipe as lone surrogates, and no tokenizer
    takes) replaced by "?". Terminal escape sequences (a colour, "clear screen") go whole, and so do the
    leftovers of those whose escape character was lost on the way ("[2J", "[0m")."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub(" ", _LEFTOVER.sub(" ", _ESCAPE.sub(" ", text)))
    return " ".join(text.split())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc: tabs and line breaks among them, folded as spaces
# ECMA-48: CSI (ESC [ or 0x9B, parameters, a final byte), OSC and the other strings (ended by BEL or ESC \),
# and two-character escapes.
_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x9d\x9e\x9f])[^\x07\x1b\x9c]*"
                     r"(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]")
# What a CSI sequence leaves once its escape is gone: "[" parameters and a final letter. One with a number
# ("[2J", "[1;31m"), or one following such a one ("[2J[H"); never text in brackets ("[1]", "[2D model]", "[HTML]").
_CSI_TAIL = r"\[{}[A-HJKSTfmnsu](?![a-z])(?![^\[\]]*\])"
_LEFTOVER = re.compile(_CSI_TAIL.format(r"[0-9]{1,3}(?:;[0-9]{1,3})*")
                       + f"(?:{_CSI_TAIL.format(r'(?:[0-9]{1,3}(?:;[0-9]{1,3})*)?')})*")


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
