"""The plain dataclasses that flow between the stages of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Span:
    """An answer span the reader found in one passage."""

    text: str  # passage[start:end]
    start: int
    end: int
    score: float  # in [0, 1], comparable across passages
    no_answer_score: float  # the passage's probability that it holds no answer
    passage: int  # index of the passage in the reader's input

    def answers(self, threshold: float) -> bool:
        """The abstention rule: the span clears the threshold and beats its passage's no-answer score."""
        return self.score >= threshold and self.score > self.no_answer_score


@dataclass
class Answer:
    """The public result of a question: an exact, cited span, or an abstention (`text == ""`)."""

    text: str
    score: float
    source: str | None = None
    start: int | None = None
    end: int | None = None
    context: str = ""  # the passage around the answer
    context_start: int | None = None  # offset of `context` in the document
    alternatives: list[Answer] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)  # what the retriever returned

    @property
    def confidence(self) -> str:
        """The score in a word: "high", "medium" or "low"."""
        return "high" if self.score >= 0.8 else "medium" if self.score >= 0.6 else "low"

    @property
    def abstained(self) -> bool:
        """True when no span cleared the no-answer threshold."""
        return self.text == ""
