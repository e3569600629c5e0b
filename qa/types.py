"""The plain dataclasses that flow between the stages of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field


Signature = tuple[int, int, int]  # a file's (size, mtime_ns, ctime_ns): how a change shows without reading it


@dataclass(frozen=True)
class Document:
    """A source file read and cleaned; offsets everywhere refer to `text`."""

    source: str  # path relative to the corpus root, with forward slashes
    text: str
    content_hash: str  # sha256 of the file's raw bytes


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; `text == document.text[start:end]`."""

    id: str
    source: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A chunk returned by the retriever, with how each ranking placed it."""

    chunk: Chunk
    score: float  # the fused score, in [0, 1]
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None  # cosine similarity to the question
    bm25_score: float | None = None  # the raw BM25 score

    def to_dict(self, title: str | None = None) -> dict:
        """The passage as JSON-ready data, as answers list it (`Answer.to_dict`) and `qa search --json` prints it."""
        c = self.chunk
        return {"source": c.source, "title": title, "start": c.start, "end": c.end, "score": round(self.score, 4),
                "text": c.text}


@dataclass(frozen=True)
class Span:
    """An answer span the reader found in one passage."""

    text: str  # passage[start:end]
    start: int
    end: int
    score: float  # in [0, 1], comparable across passages
    no_answer_score: float  # the passage's probability that it holds no answer
    passage: int  # index of the passage in the reader's input
    start_logit: float = 0.0  # the model's raw logits for the span's first and last token
    end_logit: float = 0.0

    @property
    def confidence(self) -> float:
        """The odds of this span against its passage's no-answer, as a probability in [0, 1]."""
        # sigmoid(logit(score) - logit(no_answer)): the margin of the span's logits over the null logits,
        # SQuAD 2.0's rule, which separates answerable questions better than the span score alone.
        s = min(max(self.score, 1e-12), 1 - 1e-12)
        n = min(max(self.no_answer_score, 1e-12), 1 - 1e-12)
        odds = (s / (1 - s)) / (n / (1 - n))
        return odds / (1 + odds)

    def answers(self, threshold: float) -> bool:
        """The abstention rule: the span's confidence against no answer reaches the threshold."""
        return self.confidence >= threshold


@dataclass
class Answer:
    """The public result of a question: an exact, cited span, or an abstention (`text == ""`)."""

    text: str
    # The probability that the answer is right (the answer selector's); for an abstention, that of the best
    # candidate, which stays first among the alternatives. Higher always means more likely right.
    score: float
    source: str | None = None
    start: int | None = None
    end: int | None = None
    context: str = ""  # the passage around the answer
    context_start: int | None = None  # offset of `context` in the document
    alternatives: list[Answer] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)  # what the retriever returned
    # The documents it was asked of: the file names or glob patterns given (`Assistant.ask_each`: its document);
    # None for the whole corpus.
    scope: list[str] | None = None
    error: str | None = None  # why there is no answer, when it could not be made (`Assistant.ask_each`)

    @property
    def confidence(self) -> str:
        """The score in a word: "high", "medium" or "low"."""
        return "high" if self.score >= 0.8 else "medium" if self.score >= 0.6 else "low"

    @property
    def abstained(self) -> bool:
        """True when no candidate was likely enough to be right to be given as the answer."""
        return self.text == ""

    @property
    def verdict(self) -> str:
        """"answer"; or, for an abstention, "not_sure" when a candidate has a fair chance of being right, else
        "not_in_documents"."""
        # Read from the candidates' own scores, so that the wording follows whatever the score means.
        if not self.abstained:
            return "answer"
        best = self.alternatives[0] if self.alternatives else None
        return "not_sure" if best is not None and best.score >= UNSURE_SCORE else "not_in_documents"

    def to_dict(self, titles: dict[str, str] | None = None) -> dict:
        """The answer as JSON-ready data: the one shape of `qa ask --json`, the chat's API and this method.

        `titles` maps sources to document titles (`title` is None for a source without one).
        """
        titles = titles or {}
        return {
            "text": self.text, "abstained": self.abstained, "verdict": self.verdict,
            "score": round(self.score, 4), "confidence": self.confidence,
            "source": self.source, "title": titles.get(self.source) if self.source else None,
            "start": self.start, "end": self.end, "context": self.context, "context_start": self.context_start,
            "alternatives": [{"text": a.text, "score": round(a.score, 4), "source": a.source,
                              "title": titles.get(a.source) if a.source else None, "start": a.start, "end": a.end}
                             for a in self.alternatives],
            "passages": [h.to_dict(titles.get(h.chunk.source)) for h in self.passages],
            "scope": self.scope,
        }


# An abstention whose best candidate is right one time in four or more is "not sure": that is doubt, not a
# finding that the documents are silent.
UNSURE_SCORE = 0.25
