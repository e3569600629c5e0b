"""Answers as a table: every document of a scope asked the same questions (`Assistant.ask_each`), one row a document
and one column a question; as text (`qa table`), CSV (`qa table --csv`, the chat's download) and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError
from qa.types import Answer
from qa.ui.render import answer_json, marked_sentence, shorten

ABSTAINED = {"not_sure": "(not sure)", "not_in_documents": "(not in the document)"}


@dataclass
class Table:
    """The answers of each document to each question: `answers[q][d]` answers `questions[q]` in `documents[d]`."""

    questions: list[str]
    documents: list[str]
    answers: list[list[Answer]]
    titles: dict[str, str]

    def rows(self) -> list[tuple[str, list[Answer]]]:
        """(document, its answer to each question), in document order."""
        return [(doc, [column[d] for column in self.answers]) for d, doc in enumerate(self.documents)]


def ask_table(assistant, questions: list[str], sources=None,
              progress: Callable[[int, int], None] | None = None) -> Table:
    """Ask each question of every document of the scope; `progress(done, total)` counts documents asked, over all
    the questions."""
    answers: list[list[Answer]] = []
    for q, question in enumerate(questions):
        def told(done: int, count: int, q: int = q) -> None:
            if progress:
                progress(q * count + done, len(questions) * count)
        answers.append(assistant.ask_each(question, sources, progress=told))
    documents = [a.scope[0] for a in answers[0]] if answers else []
    return Table(questions, documents, answers, assistant.titles(documents))


def read_questions(path: Path) -> list[str]:
    """The questions of a file: one a line, or the distinct "question"s of a JSONL question set, in order."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read the questions in {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    questions = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if Path(path).suffix.lower() == ".jsonl":
            try:
                row = json.loads(line)
                line = row["question"]
            except (ValueError, TypeError, KeyError) as exc:
                raise QAError(f'{path}, line {n}: not a question object with a "question" ({exc})') from exc
        questions.append(" ".join(str(line).split()))
    if not (questions := list(dict.fromkeys(q for q in questions if q))):
        raise QAError(f"{path} holds no questions")
    return questions


# ---- the cells -----------------------------------------------------------------------------------

def cell_text(answer: Answer) -> str:
    """An answer as a cell of text: the span, or what the abstention or the error was."""
    if answer.error:
        return f"error: {answer.error}"
    return answer.text or ABSTAINED[answer.verdict]


def sentence(answer: Answer) -> str:
    """The sentence that holds the answer, the span between ** marks; "" for an abstention."""
    return marked_sentence(answer) if answer.text else ""


# ---- the formats ---------------------------------------------------------------------------------

def csv_text(table: Table) -> str:
    """The table as CSV. One question: a row per document with the answer's score, verdict, offsets, sentence and
    error; several: a row per document, a column per question (its answer) and one beside it (its score)."""
    out = io.StringIO()
    write = csv.writer(out).writerow
    if len(table.questions) == 1:
        write(["document", "title", "answer", "score", "confidence", "verdict", "start", "end", "sentence", "error"])
        for doc, (a,) in table.rows():
            write([doc, table.titles.get(doc, ""), a.text, "" if a.error else f"{a.score:.4f}",
                   "" if a.error else a.confidence, "error" if a.error else a.verdict, _blank(a.start), _blank(a.end),
                   sentence(a), a.error or ""])
    else:
        write(["document", "title", *(h for q in table.questions for h in (q, f"{q} [score]"))])
        for doc, answers in table.rows():
            write([doc, table.titles.get(doc, ""),
                   *(v for a in answers for v in (cell_text(a), "" if a.error else f"{a.score:.4f}"))])
    return out.getvalue()


def json_rows(table: Table) -> list[dict]:
    """The table as JSON-ready data: an object a document, with its answer to each question in the answer's shape."""
    return [{"document": doc, "title": table.titles.get(doc),
             "answers": [{"question": q, **answer_json(a, table.titles)} for q, a in zip(table.questions, answers)]}
            for doc, answers in table.rows()]


def text_table(table: Table, width: int = 100) -> str:
    """The table as the command line prints it: one question, a line a document; several, a block a document."""
    if len(table.questions) == 1:
        left = min(max(len(d) for d in table.documents), width // 2)
        lines = [f"{shorten(d, left):<{left}}  {_scored(a, width - left - 2)}" for d, (a,) in table.rows()]
        return "\n".join([f"{'document':<{left}}  answer (probability that it is right)", *lines])
    blocks = []
    left = min(max(len(q) for q in table.questions), width // 2)
    for doc, answers in table.rows():
        blocks.append("\n".join([doc, *(f"  {shorten(q, left):<{left}}  {_scored(a, width - left - 4)}"
                                        for q, a in zip(table.questions, answers))]))
    return "\n\n".join(blocks)


def _scored(answer: Answer, room: int) -> str:
    if answer.error:
        return shorten(cell_text(answer), room)
    tail = f" ({answer.score:.2f})"
    return shorten(cell_text(answer), max(10, room - len(tail))) + tail


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)

