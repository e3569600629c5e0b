"""The `qa` command with a scope: `ask --in`, `search --in`, `table`, and `eval --per-document`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qa.ui.cli import main


@pytest.fixture(autouse=True)
def keep_environment():
    """main() sets a few library variables for quiet output; keep them from leaking into other tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def question_set(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


PER_DOCUMENT = [  # questions that never name their document, as CUAD's and PolicyQA's
    {"id": "a", "question": "Who built it?", "answers": ["Thomas Avery"], "source": "lighthouse.txt",
     "doc": "lighthouse.txt"},
    {"id": "b", "question": "Who founded it?", "answers": ["Ida Rosen"], "source": "bakery.md", "doc": "bakery.md"},
    {"id": "c", "question": "Who is the mayor?", "answers": [], "source": None, "doc": "notes/festival.html"},
]


def test_eval_per_document_asks_each_question_of_its_own_document(capsys, tiny_corpus: Path, tmp_path: Path,
                                                                   reader_model: str) -> None:
    questions = question_set(tmp_path, PER_DOCUMENT)
    where = ("--reader", reader_model, "--threshold", "0", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    predictions = tmp_path / "predictions.jsonl"
    code, out, _ = run(capsys, "eval", questions, "--per-document", "--json", "--predictions", predictions, *where)
    metrics = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and metrics["per_document"] is True and metrics["n"] == 3
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    for row, asked in zip(rows, PER_DOCUMENT):
        assert row["retrieved"] and set(row["retrieved"]) == {asked["doc"]}  # nothing from another document
        assert row["predicted_source"] == asked["doc"]
    assert metrics["source_accuracy"] == 100.0
    code, out, _ = run(capsys, "eval", questions, "--per-document", "--retrieval-only", "--json", *where)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["recall@1"] == 100.0
    code, out, _ = run(capsys, "eval", questions, "--json", *where)  # the whole folder: no per_document key
    assert code == 0 and "per_document" not in json.loads(out.strip().splitlines()[-1])


def test_eval_per_document_needs_every_question_to_name_an_indexed_document(capsys, tiny_corpus: Path,
                                                                            tmp_path: Path, reader_model: str) -> None:
    where = ("--reader", reader_model, "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    unnamed = question_set(tmp_path, [*PER_DOCUMENT[:2], {"id": "x", "question": "Who?", "answers": []}])
    code, _, err = run(capsys, "eval", unnamed, "--per-document", *where)
    assert code == 2 and "line 3 (id x)" in err and 'no "doc"' in err
    assert not (tmp_path / "index").exists()  # said before any indexing
    elsewhere = question_set(tmp_path, [*PER_DOCUMENT, {"id": "y", "question": "Who?", "answers": [],
                                                        "doc": "minutes/2019.txt"}])
    code, _, err = run(capsys, "eval", elsewhere, "--per-document", *where)
    assert code == 2 and "'minutes/2019.txt' is not among the 3 indexed documents" in err and "line 4" in err
    squad = Path(__file__).parents[1] / "data" / "reading-sets" / "tiny-v1.json"
    code, _, err = run(capsys, "eval", squad, "--per-document", *where)
    assert code == 2 and "SQuAD file has none" in err
