"""Question sets: the contract's JSONL format and SQuAD JSON, read and checked; SQuAD paragraphs as a corpus."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.atomic import atomic_write_bytes
from qa.eval.splits import in_split


@dataclass(frozen=True)
class Question:
    """One question of a question set; no answers and no source means the corpus cannot answer it."""

    id: str
    question: str
    answers: tuple[str, ...]
    source: str | None  # gold file (JSONL) or paragraph file (SQuAD); None: none known, or unanswerable
    context: str | None = None  # the gold paragraph, for reader-only SQuAD evaluation
    line: int | None = None  # where a JSONL question stands in its file, for error messages
    doc: str | None = None  # the document it is asked of, where a set says (realdocs' `doc`); unanswerable ones too
    category: str | None = None  # the kind of question, where a set says (CUAD's `category`)

    @property
    def answerable(self) -> bool:
        """Whether the question has a gold answer."""
        return bool(self.answers)

    @property
    def where(self) -> str:
        """The question's place in its set, for error messages: its line (JSONL) and its id."""
        return f"line {self.line} (id {self.id})" if self.line is not None else f"question {self.id}"


def is_squad(path: Path) -> bool:
    """Whether a question-set file is SQuAD JSON rather than JSONL."""
    name = path.name.lower()
    return name.endswith(".json") or name.endswith(".json.gz")


def load_jsonl(path: Path) -> list[Question]:
    """Read the contract's JSONL format: {"id", "question", "answers": [...], "source": name or null}."""
    questions = []
    try:  # utf-8-sig: editors on Windows begin a UTF-8 file with a byte-order mark.
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(not_utf8(path, exc)) from exc
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}, line {n}: not a question object ({exc})") from exc
        try:
            questions.append(_question(row, n))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}, line {n}: {exc}") from exc
    return questions


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """What is wrong with a question set that is not UTF-8."""
    return f"{path} is not UTF-8 text (byte {exc.start:,} is 0x{exc.object[exc.start]:02x}): save it as UTF-8"


def _question(row: object, n: int) -> Question:
    """One JSONL row, checked: a non-empty question, a list of answer strings, a source name or null."""
    if not isinstance(row, dict):
        raise TypeError(f"not a question object: expected a JSON object, found {type(row).__name__}")
    if "question" not in row:
        raise ValueError('missing "question"')
    question, answers, source = row["question"], row.get("answers") or [], row.get("source")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the question must be a non-empty string")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError("answers must be a list of strings")
    for key in ("source", "doc", "category"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ValueError(f"{key} must be a file name or null" if key != "category" else "category must be a string")
    return Question(str(row.get("id", n)), question, tuple(answers), source, line=n, doc=row.get("doc"),
                    category=row.get("category"))


@dataclass
class SquadSet:
    """A SQuAD file: its paragraphs as documents (name -> text) and its questions."""

    paragraphs: dict[str, str] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)


def paragraph_name(article: int, paragraph: int) -> str:
    """The file name a SQuAD paragraph gets when it becomes a document."""
    return f"a{article:03d}_p{paragraph:03d}.txt"


def load_squad(path: Path, split: str = "all") -> SquadSet:
    """Read SQuAD JSON (.json or .json.gz); `split` keeps "all" articles, those never trained or calibrated on
    ("report": `splits.squad_part` "clean"), or the others ("train")."""
    try:
        return _load_squad(path, split)
    except SquadShapeError as exc:
        raise ValueError(f"{path}, {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(not_utf8(path, exc)) from exc
    except (ValueError, KeyError, TypeError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path} is not a SQuAD file ({type(exc).__name__}: {exc})") from exc


class SquadShapeError(ValueError):
    """A SQuAD file's value of the wrong kind, said with its place ("article 3, paragraph 2, question q1: ...")."""


def _load_squad(path: Path, split: str) -> SquadSet:
    return squad_set(squad_articles(path), lambda a, article: in_split(split, article=article["title"]))


def squad_set(articles: list[dict], keep: Callable[[int, dict], bool]) -> SquadSet:
    """The paragraphs (as documents) and questions of the articles that `keep(index, article)` admits."""
    out = SquadSet()
    for a, article in enumerate(articles):
        if not keep(a, article):
            continue
        for p, para in enumerate(article["paragraphs"]):
            name = paragraph_name(a, p)
            where = f"article {a} ({article.get('title')!r}), paragraph {p}"
            if not isinstance(para["context"], str):
                raise SquadShapeError(f"{where}: the context must be text, not {para['context']!r}")
            out.paragraphs[name] = para["context"]
            for qa in para["qas"]:
                try:
                    out.questions.append(squad_question(qa, para["context"], name))
                except SquadShapeError as exc:
                    raise SquadShapeError(f"{where}, question {qa.get('id')!r}: {exc}") from None
    return out


def squad_articles(path: Path) -> list[dict]:
    """The articles of a SQuAD JSON file, .json or .json.gz, as the file has them."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)["data"]


def squad_question(qa: dict, context: str, source: str | None) -> Question:
    """One SQuAD question of a paragraph; a v2.0 impossible one has no answers and no source."""
    impossible = bool(qa.get("is_impossible"))
    answers = () if impossible else tuple(dict.fromkeys(x["text"] for x in qa["answers"]))
    for what, value in (("the question", qa["question"]), *(("an answer's text", x) for x in answers)):
        if not isinstance(value, str):
            raise SquadShapeError(f"{what} must be text, not {value!r}")
    return Question(str(qa["id"]), qa["question"], answers, None if impossible else source, context)


def split_questions(questions: list[Question], split: str, path: Path) -> list[Question]:
    """The questions of a JSONL set in `split`, by the document each is asked of (`splits.document_part`)."""
    if split == "all":
        return questions
    if missing := next((q for q in questions if not q.doc), None):
        raise ValueError(f"{path}, {missing.where}: --split {split} splits a set by the document each question is "
                         'asked of, and this question has no "doc"')
    return [q for q in questions if in_split(split, doc=q.doc)]


def sample(questions: list[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """A reproducible subset of `limit` questions, in their original order."""
    if not limit or limit >= len(questions):
        return questions
    keep = set(random.Random(seed).sample(range(len(questions)), limit))
    return [q for i, q in enumerate(questions) if i in keep]


def write_corpus(paragraphs: dict[str, str], folder: Path) -> None:
    """Write SQuAD paragraphs as one text file each, the corpus of an end-to-end evaluation."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(paragraphs)
    for old in folder.glob("*.txt"):
        if old.name not in wanted:
            old.unlink()
    for name, text in paragraphs.items():
        path = folder / name
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
