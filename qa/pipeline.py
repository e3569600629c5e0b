"""`Assistant`: retriever -> reader -> `Answer`, with the citation; and the default `answer()`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from qa.ingest.bounded import ParseLimits, parse_bounded
from qa.config import Settings
from qa.ingest.documents import TITLE_MAX_CHARS, Skipped, document_title
from qa.models.embedder import Embedder
from qa.errors import CorpusError, QuestionError, SettingsError
from qa.answering.evidence import Candidate, gather
from qa.answering.head import add_heads, asks_about_document
from qa.answering.question import clean_question
from qa.answering.answers import rank_answer, read_best_first
from qa.answering.each import answer_each, failed
from qa.index.indexer import (IndexReport, Progress, changed_files, changed_since_indexed, check_corpus,
                              discard_index, open_store, refresh)
from qa.answering.reader import Reader
from qa.answering.retriever import Retriever
from qa.answering.selector import SELECTOR_FILE, Selector
from qa.index.store import DocumentInfo, IndexDamagedError, IndexMismatchError, OtherCorpusError
from qa.index.interface import IndexStore
from qa.index.scope import match_sources, scope_patterns
from qa.types import Answer, Document, Hit

Scope = str | Iterable[str] | None  # file names or glob patterns relative to the corpus; None: all of it

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

    def retrieve(self, question: str, top_k: int | None = None, sources: Scope = None) -> list[Hit]:
        """The passages the reader would read for this question; with `sources` (file names or glob patterns
        relative to the corpus), from those documents only."""
        return self.retrieve_many([question], top_k, sources)[0]

    def retrieve_many(self, questions: list[str], top_k: int | None = None, sources: Scope = None) -> list[list[Hit]]:
        """`retrieve` for several questions at once, with their query embeddings batched."""
        questions = [self.check_question(q) for q in questions]
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise SettingsError(f"top_k must be a whole number of at least 1 (passages to return), not {top_k!r}")
        documents = self.scope_documents(sources)
        self._check_indexed()
        if documents is not None and len(documents) == self.store.summary()[0]:
            documents = None  # the whole corpus: its own search is quicker than a scope's
        return self._retriever.run_batch(questions, self.settings.top_k if top_k is None else top_k, documents)

    def scope_documents(self, sources: Scope = None) -> list[str] | None:
        """The indexed documents that `sources` (file names or glob patterns relative to the corpus) names, in
        order; None without sources: the whole corpus. ScopeError for a pattern that matches no document or
        leaves the corpus. The one place a scope becomes documents."""
        patterns = scope_patterns(sources)  # checked before any indexing: a wrong pattern is said at once
        if patterns is None:
            return None
        self._ensure_index()
        return match_sources(patterns, self.store.documents())

    def _check_indexed(self) -> None:
        self._ensure_index()
        if self.store.chunk_count() == 0:
            raise CorpusError(f"no readable documents in {self.settings.corpus}: add .txt, .md, .html, "
                              ".pdf or .docx files there and ask again")

    def ask(self, question: str, sources: Scope = None) -> Answer:
        """Answer from the documents with an exact, cited span, or abstain with `text == ""`; with `sources` (file
        names or glob patterns relative to the corpus), from those documents only."""
        question = self.check_question(question)
        patterns = scope_patterns(sources)  # a wrong pattern fails before the models load
        check_corpus(self.settings.corpus)  # a missing folder fails before the models load, in a second
        self._warm_up_readers()  # a missing reader or selector fails before any indexing work
        return self.read(question, self.retrieve(question, sources=patterns), patterns)

    def read(self, question: str, hits: list[Hit], sources: Scope = None) -> Answer:
        """Read the retrieved passages, best first, and rank their spans across documents by the probability
        that each is right (the answer selector's); the answer's `scope` is `sources`.

        An answer never cites a file that changed after it was indexed: the index is refreshed and the
        question asked again (within `sources`). (Other changes to the folder are seen on `index()`.)
        """
        answer = self._read(question, hits, sources)
        cited = [a.source for a in (answer, *answer.alternatives) if a.source]
        if cited and changed_since_indexed(self.store, self.settings, cited):
            log.info("a cited file changed since it was indexed: refreshing the index")
            self.index()
            answer = self._read(question, self.retrieve(question, sources=sources), sources)
        answer.scope = scope_patterns(sources)
        return answer

    def _read(self, question: str, hits: list[Hit], sources: Scope = None) -> Answer:
        # The scope's documents matter only to a question about the document itself (`head`): resolve them then.
        documents = self.scope_documents(sources) if asks_about_document(question) else None
        passages = self.passages(question, hits, documents)
        candidates, read = self.candidates(question, passages)
        return rank_answer(question, passages, candidates, read, self.selector, self.threshold,
                           self.settings.alternatives)

    def passages(self, question: str, hits: list[Hit], documents: list[str] | None = None) -> list[Hit]:
        """The passages to read for a question asked of these indexed documents (None: all): the retrieved `hits`,
        and the opening passage of a document where the question asks about the document itself (`head`)."""
        return add_heads(question, hits, self.store, self.settings, documents)

    def candidates(self, question: str, passages: list[Hit]) -> tuple[list[Candidate], int]:
        """Every candidate span the reader finds in these passages, read as `ask` reads them (best first, until a
        sure span), and how many it read: what the selector weighs (`scripts/train_selector.py` learns from it)."""
        s = self.settings
        read = read_best_first(self.reader, question, [passages], s.spans_per_passage, s.stop_confidence)[0]
        return gather(passages, read), len(read)

    def ask_each(self, question: str, sources: Scope = None,
                 progress: Callable[[int, int], None] | None = None) -> list[Answer]:
        """The question asked of each document of the scope alone (every indexed document without `sources`):
        one Answer each, in document order, an abstention included, its `scope` the document. A document that
        cannot be read gets an Answer with `error`; the others are answered. Retrieval and reading are batched
        across documents; `progress(done, total)` is called as documents are done."""
        question = self.check_question(question)
        patterns = scope_patterns(sources)
        check_corpus(self.settings.corpus)
        self._warm_up_readers()
        documents = self.scope_documents(patterns)
        self._check_indexed()
        documents = list(self.store.documents()) if documents is None else documents
        answers = self._each(question, documents, progress)
        # As `read`: no answer cites a file that changed after it was indexed. Those documents are asked again.
        changed = changed_files(self.store, self.settings, [a.source for a in answers if a.source])
        if not changed:
            return answers
        log.info("%d cited file(s) changed since they were indexed: refreshing the index", len(changed))
        skipped = {s.source: f"it {s.reason}" for s in self.index().skipped}
        kept = [d for d in changed if self.store.content_hash(d) is not None]
        redo = dict(zip(kept, self._each(question, kept)))
        for d in set(changed) - set(kept):
            redo[d] = failed(d, f"{d} changed since it was indexed and can no longer be read: "
                                f"{skipped.get(d, 'it was removed from the corpus')}")
        return [redo.get(a.scope[0], a) for a in answers]

    def _each(self, question: str, documents: list[str], progress=None) -> list[Answer]:
        return answer_each(question, documents, self._retriever, self.reader, self.selector, self.threshold,
                           self.settings, progress, lambda hits, source: self.passages(question, hits, [source]))

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


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The shared Assistant over `seeds/` (or QA_CORPUS), built once."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def answer(question: str, sources: Scope = None) -> Answer:
    """Answer a question about the default corpus (within `sources`, file names or glob patterns, when given);
    builds or refreshes its index on first use."""
    return default_assistant().ask(question, sources)
