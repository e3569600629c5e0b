"""qa.eval.questions: JSONL and SQuAD question sets, read and checked."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from qa.eval import questions as qs
from qa.eval.questions import Question

DATA = Path(__file__).parents[1] / "data"


# ---- JSONL question sets -------------------------------------------------------------------------

def test_load_jsonl() -> None:
    questions = qs.load_jsonl(DATA / "questions" / "tiny.jsonl")
    assert [x.id for x in questions] == ["t1", "t2", "t3", "t4"]  # the blank line is skipped
    assert questions[0].answers == ("Thomas Avery", "the engineer Thomas Avery")
    assert questions[0].source == "lighthouse.txt" and questions[0].answerable
    assert questions[3].answers == () and questions[3].source is None and not questions[3].answerable


def test_the_project_question_set_loads() -> None:
    questions = qs.load_jsonl(Path(__file__).parents[2] / "eval" / "seeds.jsonl")
    assert len(questions) >= 48
    assert sum(not x.answerable for x in questions) >= 8
    assert len({x.id for x in questions}) == len(questions)


@pytest.mark.parametrize(("line", "problem"), [
    ('{"id": "x", "question": "Who?", "answers": ["A"], "source": "a.txt"', "line 2"),  # cut short
    ('{"id": "x", "answers": ["A"], "source": "a.txt"}', 'line 2: missing "question"'),
    ('["Who?", ["A"]]', "line 2"),
    ('{"id": "x", "question": "Who?", "answers": "Paris", "source": "a.txt"}', "answers"),
    ('{"id": "x", "question": "", "answers": ["A"], "source": "a.txt"}', "question"),
    ('{"id": "x", "question": 42, "answers": ["A"], "source": "a.txt"}', "question"),
    ('{"id": "x", "question": "Who?", "answers": [1, 2], "source": "a.txt"}', "answers"),
    ('{"id": "x", "question": "Who?", "answers": ["A"], "source": 7}', "source"),
])
def test_bad_jsonl_lines_are_clear_errors(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "set.jsonl"
    good = '{"id": "ok", "question": "Who?", "answers": ["A"], "source": "a.txt"}'
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        qs.load_jsonl(path)
    message = str(info.value)
    assert str(path) in message and "line 2" in message and problem in message


def test_id_defaults_to_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"question": "Who?", "answers": ["A"], "source": "a.txt"}\n', encoding="utf-8")
    assert qs.load_jsonl(path)[0].id == "1"


def test_a_question_knows_its_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('\n{"id": "q7", "question": "Who?", "answers": []}\n', encoding="utf-8")
    assert qs.load_jsonl(path)[0].where == "line 2 (id q7)"
    assert Question("x", "question x?", (), None).where == "question x"  # a SQuAD question has its id alone


def test_a_set_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('\ufeff{"id": "1", "question": "Who?", "answers": ["A"], "source": null}\n', encoding="utf-8")
    assert [(x.id, x.question, x.source) for x in qs.load_jsonl(path)] == [("1", "Who?", None)]


# ---- SQuAD ---------------------------------------------------------------------------------------

def test_load_squad_v1() -> None:
    squad = qs.load_squad(DATA / "reading-sets" / "tiny-v1.json")
    assert list(squad.paragraphs) == ["a000_p000.txt", "a000_p001.txt", "a001_p000.txt"]
    assert squad.paragraphs["a000_p001.txt"].startswith("The tower is 34 metres tall")
    assert [x.id for x in squad.questions] == ["l1", "l2", "l3", "b1", "b2"]
    first = squad.questions[0]
    assert first.answers == ("Thomas Avery", "the engineer Thomas Avery")  # duplicates dropped, order kept
    assert first.source == "a000_p000.txt" and first.context == squad.paragraphs["a000_p000.txt"]
    assert all(x.answerable for x in squad.questions)


def test_load_squad_v2_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "tiny-v2.json.gz"
    with gzip.open(path, "wb") as f:
        f.write((DATA / "reading-sets" / "tiny-v2.json").read_bytes())
    assert qs.is_squad(path)
    squad = qs.load_squad(path)
    answerable, impossible = squad.questions
    assert answerable.answers == ("every August",) and answerable.source == "a000_p000.txt"
    assert impossible.answers == () and impossible.source is None and not impossible.answerable
    assert impossible.context == squad.paragraphs["a000_p000.txt"]


def test_squad_halves_split_articles() -> None:
    path = DATA / "reading-sets" / "tiny-v1.json"
    whole = qs.load_squad(path)
    report, train = qs.load_squad(path, split="report"), qs.load_squad(path, split="train")
    assert sorted(x.id for x in report.questions + train.questions) == sorted(x.id for x in whole.questions)
    assert not set(report.paragraphs) & set(train.paragraphs)


@pytest.mark.parametrize("content", ['{"version": "1.1"}', "[1, 2, 3]", '{"data": [{"title": "x"}]}', "not json"])
def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        qs.load_squad(path)


def test_is_squad() -> None:
    assert qs.is_squad(Path("dev-v1.1.json")) and qs.is_squad(Path("DEV.JSON.GZ"))
    assert not qs.is_squad(Path("seeds.jsonl"))


def test_write_corpus_writes_paragraphs_and_drops_stale_files(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    qs.write_corpus({"a000_p000.txt": "One.", "a000_p001.txt": "Two."}, folder)
    qs.write_corpus({"a000_p000.txt": "One, changed.", "a001_p000.txt": "Three."}, folder)
    assert {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()} == {
        "a000_p000.txt": "One, changed.", "a001_p000.txt": "Three."}
