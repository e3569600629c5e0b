"""The `qa` command with a scope: `ask --in`, `search --in`, `table`, and `eval --per-document`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.ui import test_cli

keep_environment = test_cli.keep_environment  # main() sets library variables: they are put back
run = test_cli.run


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


def test_ask_and_search_within_chosen_documents(capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    where = ("--reader", reader_model, "--threshold", "0", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    code, out, _ = run(capsys, "ask", "Who founded it?", "--in", "lighthouse.txt", "--json", *where)
    reply = json.loads(out)
    assert code == 0 and reply["scope"] == ["lighthouse.txt"] and reply["source"] == "lighthouse.txt"
    assert {p["source"] for p in reply["passages"]} == {"lighthouse.txt"}
    code, out, _ = run(capsys, "ask", "Who founded it?", "--in", "lighthouse.txt", "--in", "notes", *where)
    assert code == 0 and out.strip().endswith("Within: lighthouse.txt, notes")
    code, out, _ = run(capsys, "search", "Who founded the bakery?", "--in", "notes/", "--json", *where)
    assert code == 0 and {p["source"] for p in json.loads(out)} == {"notes/festival.html"}
    code, out, _ = run(capsys, "ask", "Who founded it?", "--json", *where)
    assert json.loads(out)["scope"] is None


@pytest.mark.parametrize("command", ["ask", "search", "table"])
@pytest.mark.parametrize(("pattern", "message"), [
    ("minutes/*.txt", "no indexed document matches 'minutes/*.txt'"),
    ("../secret.txt", "climbs out of the corpus"),
    ("/etc/passwd", "is an absolute path"),
])
def test_a_scope_that_matches_nothing_or_leaves_the_corpus_is_a_clear_error(
        capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str, command: str, pattern: str, message: str) -> None:
    code, out, err = run(capsys, command, "Who founded it?", "--in", pattern, "--reader", reader_model,
                         "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 2 and message in err and "Traceback" not in err and out == ""
    if "no indexed document" in message:
        assert "qa search" in err and "side panel" in err  # how to see the documents' names


def test_table_asks_every_document_as_text_csv_and_json(capsys, tiny_corpus: Path, tmp_path: Path,
                                                        reader_model: str) -> None:
    where = ("--reader", reader_model, "--threshold", "0", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    documents = ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    code, out, _ = run(capsys, "table", "Who founded it?", "--json", *where)
    rows = json.loads(out)
    assert code == 0 and [r["document"] for r in rows] == documents
    for r in rows:
        (answer,) = r["answers"]
        assert answer["question"] == "Who founded it?" and answer["scope"] == [r["document"]]
        assert answer["source"] == r["document"] and answer["text"]  # threshold 0: every document answers
    assert rows[0]["title"] == "Rosen's Bakery"
    code, out, _ = run(capsys, "table", "Who founded it?", *where)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("document") and [line.split()[0] for line in lines[1:]] == documents
    assert all(f"{r['answers'][0]['text']} ({r['answers'][0]['score']:.2f})" in out for r in rows)

    sheet = tmp_path / "table.csv"
    code, out, _ = run(capsys, "table", "Who founded it?", "--in", "*.md", "--in", "notes", "--csv", sheet, *where)
    table = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    assert code == 0 and "2 documents, 1 question(s): written to" in out
    assert [r["document"] for r in table] == ["bakery.md", "notes/festival.html"]
    by_doc = {r["document"]: r["answers"][0] for r in rows}
    for r in table:
        assert r["answer"] == by_doc[r["document"]]["text"] and float(r["score"]) == by_doc[r["document"]]["score"]
        assert int(r["start"]) == by_doc[r["document"]]["start"] and r["error"] == ""


def test_table_with_a_question_a_column(capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    where = ("--reader", reader_model, "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    asked = ["Who founded it?", "When was it built?"]
    for name, text in (("q.txt", "\n".join(asked) + "\n\n"),
                       ("q.jsonl", "".join(json.dumps({"question": q, "doc": d}) + "\n"
                                           for q in asked for d in ("a.txt", "b.txt")))):  # repeated per document
        (tmp_path / name).write_text(text, encoding="utf-8")
        sheet = tmp_path / f"{name}.csv"
        code, out, err = run(capsys, "table", "--questions", tmp_path / name, "--csv", sheet, *where)
        table = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8"))))
        assert code == 0 and "3 documents, 2 question(s)" in out
        assert table[0] == ["document", "title", asked[0], f"{asked[0]} [score]", asked[1], f"{asked[1]} [score]"]
        assert [r[0] for r in table[1:]] == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
    code, out, _ = run(capsys, "table", "--questions", tmp_path / "q.txt", "--json", *where)
    assert code == 0 and [[a["question"] for a in r["answers"]] for r in json.loads(out)] == [asked] * 3


def test_table_bad_input_is_said_before_any_work(capsys, tiny_corpus: Path, tmp_path: Path) -> None:
    where = ("--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    code, _, err = run(capsys, "table", *where)
    assert code == 2 and "give the question" in err
    (tmp_path / "q.txt").write_text("Who?\n", encoding="utf-8")
    code, _, err = run(capsys, "table", "Who?", "--questions", tmp_path / "q.txt", *where)
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, "table", "Who?", "--csv", tmp_path / "no" / "such" / "t.csv", *where)
    assert code == 2 and "cannot write the table" in err
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    code, _, err = run(capsys, "table", "--questions", tmp_path / "empty.txt", *where)
    assert code == 2 and "holds no questions" in err
    code, _, err = run(capsys, "table", "   ", *where)
    assert code == 2 and "question is empty" in err
    assert not (tmp_path / "index").exists()
