"""qa.ui.cli: the `qa` command, run in-process through main()."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from qa.ingest.documents import read_document
from qa.types import Answer
from qa.ui.cli import main
from qa.ui.render import marked_sentence

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(autouse=True)
def keep_environment():
    """main() sets a few library variables for quiet output; keep them from leaking into other tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_with_a_missing_reader_is_a_clear_error_that_shows_the_passages(capsys, tiny_corpus: Path,
                                                                            tmp_path: Path) -> None:
    missing = tmp_path / "no-reader"
    code, out, err = run(capsys, "ask", "Who built the lighthouse?", "--reader", missing,
                         "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 2
    assert err.startswith("qa: no reader model at") and str(missing) in err
    assert "Traceback" not in err
    lines = out.splitlines()
    assert lines[0].startswith("No answer: the reader is not available")
    assert lines[1].startswith("1. lighthouse.txt, characters 0-")  # the best passage, cited
    code, out, err = run(capsys, "ask", "Who built the lighthouse?", "--json", "--reader", missing,
                         "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    reply = json.loads(out)  # --json keeps stdout JSON
    assert code == 2 and reply["text"] == "" and "no reader model" in reply["error"]
    assert reply["passages"][0]["source"] == "lighthouse.txt"


def test_ask_without_a_question_answers_each_line_of_input(capsys, monkeypatch: pytest.MonkeyPatch,
                                                          tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    lines = ["Who built the Old Harbour Lighthouse?", "", "   ", "why " * 300, "When did Rosen's Bakery open?",
             "Who owns the caf\xe9?\r"]
    # As from a pipe: bytes, a Windows line end, and Latin-1 "é", which Python reads as a lone surrogate.
    data = "\n".join(lines[:5]).encode() + b"\nWho owns the caf\xe9?\r\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape"))
    code, out, err = run(capsys, "ask", "--json", "--reader", reader_model, "--threshold", "0",
                         "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    replies = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in replies] == [lines[0], lines[3].strip(), lines[4], "Who owns the caf??"]  # "é" became "?"
    assert "characters long" in replies[1]["error"] and replies[1]["text"] == ""
    assert replies[3]["error"] is None  # asked, not a traceback that ends the run
    for r in (replies[0], replies[2]):  # real answers, cited
        assert read_document(tiny_corpus, tiny_corpus / r["source"]).text[r["start"]:r["end"]] == r["text"]
    assert code == 2  # one question could not be asked; the others were answered

    monkeypatch.setattr("sys.stdin", io.StringIO(lines[0] + "\n" + lines[4] + "\n"))
    code, out, err = run(capsys, "ask", "--reader", tmp_path / "no-reader", "--corpus", tiny_corpus,
                         "--index-dir", tmp_path / "index")
    assert code == 2 and err.count("no reader model at") == 1  # said once, not per question
    assert out.count("No answer: the reader is not available") == 2
    assert "1. lighthouse.txt" in out and "1. bakery.md" in out


def test_search_shows_the_best_passages_with_their_files_and_needs_no_reader(capsys, tiny_corpus: Path,
                                                                            tmp_path: Path) -> None:
    where = ("--corpus", tiny_corpus, "--index-dir", tmp_path / "index", "--reader", tmp_path / "no-reader")
    code, out, err = run(capsys, "search", "When is the kite festival?", *where)
    assert code == 0 and "qa:" not in err  # no reader, and no complaint about it
    assert out.splitlines()[0].startswith("1. notes/festival.html, characters 0-")
    code, out, _ = run(capsys, "search", "Who founded the bakery?", "--json", "--top-k", "2", *where)
    passages = json.loads(out)
    assert code == 0 and len(passages) == 2 and passages[0]["source"] == "bakery.md"
    assert passages[0]["score"] >= passages[1]["score"]
    for p in passages:  # each passage is the cited stretch of its file's cleaned text
        assert read_document(tiny_corpus, tiny_corpus / p["source"]).text[p["start"]:p["end"]] == p["text"]
    code, _, err = run(capsys, "search", "   ", *where)
    assert code == 2 and "question is empty" in err


@pytest.mark.parametrize(("question", "message"), [("", "empty"), ("why " * 24_999 + "why?", "100,000 characters")])
def test_ask_with_a_bad_question_is_a_clear_error(capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str,
                                                  question: str, message: str) -> None:
    code, _, err = run(capsys, "ask", question, "--reader", reader_model, "--corpus", tiny_corpus,
                       "--index-dir", tmp_path / "index")
    assert code == 2 and message in err and "Traceback" not in err


def test_index_prints_counts(capsys, tiny_corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    code, out, _ = run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index)
    assert code == 0
    assert "3 added, 0 updated, 0 removed, 0 unchanged, 0 skipped;" in out
    chunks = int(out.split("skipped; ")[1].split(" chunks")[0])
    assert chunks >= 3 and str(index) in out

    (tiny_corpus / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 4)
    (tiny_corpus / "bakery.md").unlink()
    code, out, _ = run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index)
    assert code == 0
    assert "0 added, 0 updated, 1 removed, 2 unchanged, 1 skipped;" in out
    assert "skipped photo.txt: it is binary" in out

    code, out, _ = run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index, "--rebuild")
    assert code == 0 and "2 added, 0 updated, 0 removed, 0 unchanged, 1 skipped;" in out


def test_a_damaged_index_is_a_clear_error_and_rebuild_mends_it(capsys, tiny_corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index)[0] == 0
    (index / "index.sqlite").write_bytes(b"this is not a database " * 100)
    code, _, err = run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index)
    assert code == 2 and str(index / "index.sqlite") in err and "qa index --rebuild" in err
    assert "Traceback" not in err
    code, out, _ = run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index, "--rebuild")
    assert code == 0 and "3 added" in out
    assert run(capsys, "index", "--corpus", tiny_corpus, "--index-dir", index)[1].count("3 unchanged") == 1


def test_ask_about_a_missing_corpus_fails_before_any_model_loads(tmp_path: Path) -> None:
    """In a new process, as a user runs it: the error comes before torch or transformers is even imported."""
    import subprocess
    import sys

    from qa.config import PROJECT_ROOT

    script = ("import sys\nfrom qa.ui.cli import main\ncode = main(sys.argv[1:])\n"
              "print(code, 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, "ask", "Who keeps the lighthouse?", "--corpus",
                           str(tmp_path / "nowhere"), "--index-dir", str(tmp_path / "index")], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.stdout.split() == ["2", "False", "False"]
    assert "nowhere does not exist" in done.stderr and "--corpus" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("question", ["\x00\x00\x00", "\x00 \x1b\x07\x7f", "\x85\x9f\r\n"])
def test_ask_with_only_control_characters_is_refused_as_empty(capsys, tiny_corpus: Path, tmp_path: Path,
                                                              reader_model: str, question: str) -> None:
    code, _, err = run(capsys, "ask", question, "--reader", reader_model, "--corpus", tiny_corpus,
                       "--index-dir", tmp_path / "index")
    assert code == 2 and "the question is empty" in err and "control characters" in err and "Traceback" not in err


def test_index_of_a_missing_corpus_is_a_clear_error(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "index", "--corpus", tmp_path / "nowhere", "--index-dir", tmp_path / "index")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    a_file = tmp_path / "notes.txt"
    a_file.write_text("Some notes.", encoding="utf-8")
    code, _, err = run(capsys, "index", "--corpus", a_file, "--index-dir", tmp_path / "index")
    assert code == 2 and "is a file" in err and "does not exist" not in err


@pytest.mark.parametrize("argv", [("index",), ("ask", "Who?"), ("search", "Who?"), ("serve",)])
def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(capsys, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path, argv: tuple) -> None:
    monkeypatch.setenv("QA_CHUNK_WORDS", "abc")
    code, out, err = run(capsys, *argv, "--corpus", tmp_path, "--index-dir", tmp_path / "index")
    assert code == 2 and out == ""
    assert err == "qa: QA_CHUNK_WORDS='abc' is not valid: give a whole number\n"
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize(("argv", "setting"), [
    (("index", "--top-k", "0"), "top_k"), (("ask", "Who?", "--top-k", "-3"), "top_k"),
    (("ask", "Who?", "--threshold", "2"), "answer_threshold"), (("ask", "Who?", "--threshold", "nan"), "answer_threshold"),
    (("serve", "--port", "70000"), "port"),
])
def test_a_bad_setting_from_a_flag_is_one_line_and_exit_2(capsys, tmp_path: Path, argv: tuple, setting: str) -> None:
    code, _, err = run(capsys, *argv, "--corpus", tmp_path, "--index-dir", tmp_path / "index")
    assert code == 2 and err.startswith(f"qa: {setting} must be") and err.count("\n") == 1


def test_a_model_error_other_than_the_reader_is_said_once(capsys, monkeypatch: pytest.MonkeyPatch, offline: list,
                                                         tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    # (stderr may also hold the reader's loading bar: the offline fixture imports huggingface_hub before main()
    # turns its bars off.)
    where = ("--embedder", tmp_path / "no-embedder", "--reader", reader_model, "--corpus", tiny_corpus,
             "--index-dir", tmp_path / "index")
    code, out, err = run(capsys, "ask", "Who built the lighthouse?", *where)
    assert code == 2 and out == "" and err.count("qa: ") == 1 and "the embedder" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("Who built the lighthouse?\n"))  # and with questions read from input
    code, out, err = run(capsys, "ask", *where)
    assert code == 2 and out == "" and err.count("qa: ") == 1 and "the embedder" in err


def test_ask_json(capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    code, out, _ = run(capsys, "ask", "Who built the Old Harbour Lighthouse?", "--json", "--reader", reader_model,
                       "--threshold", "0", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    # One shape for an answer: Answer.to_dict()'s keys, and `error`; the chat's API gives the same (test_chat).
    assert set(result) == {"text", "abstained", "verdict", "score", "confidence", "source", "title", "start", "end",
                           "context", "context_start", "alternatives", "passages", "scope", "error"}
    assert result["error"] is None and result["passages"]
    found = ([result] if result["text"] else []) + result["alternatives"]
    assert found
    for a in found:
        text = read_document(tiny_corpus, tiny_corpus / a["source"]).text
        assert a["text"] and text[a["start"]:a["end"]] == a["text"]
        assert 0.0 <= a["score"] <= 1.0


def test_ask_prints_an_abstention(capsys, tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    code, out, _ = run(capsys, "ask", "Who built the Old Harbour Lighthouse?", "--reader", reader_model,
                       "--threshold", "1", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 0
    lines = out.splitlines()
    # The verdict first; the reader's best span is still shown, marked as below the threshold, then the closest
    # passages. "Not sure" when that span is likelier right than not.
    best = float(re.search(r"\((\d\.\d\d)\) in ", lines[1]).group(1))
    assert lines[0].startswith("Not sure: " if best >= 0.5 else "Not in the documents: ")
    assert lines[1].startswith("  best candidate, below the threshold: ")
    assert "Thomas Avery" in lines[1] and lines[1].endswith("lighthouse.txt")
    assert lines[2].startswith("  closest: lighthouse.txt")


def test_ask_prints_answer_score_file_and_marked_sentence(capsys, tiny_corpus: Path, tmp_path: Path,
                                                          reader_model: str) -> None:
    code, out, _ = run(capsys, "ask", "Who built the Old Harbour Lighthouse?", "--reader", reader_model,
                       "--threshold", "0", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 0
    lines = out.splitlines()
    answer = lines[0].removeprefix("Answer: ")
    assert answer in ("Thomas Avery", "the engineer Thomas Avery")
    assert lines[1].startswith("Score:  ") and "confidence" in lines[1]
    source, span = lines[2].removeprefix("Source: ").split(", characters ")
    start, end = map(int, span.split("-"))
    assert read_document(tiny_corpus, tiny_corpus / source).text[start:end] == answer
    assert f"**{answer}**" in lines[3]


def test_marked_sentence_marks_the_answer_in_its_sentence() -> None:
    context = "The tower is 34 metres tall. It was built in 1871 by Thomas Avery. The keeper left in 1968."
    start = context.index("Thomas Avery")
    answer = Answer(text="Thomas Avery", score=0.9, source="a.txt", start=100 + start, end=100 + start + 12,
                    context=context, context_start=100)
    assert marked_sentence(answer) == "It was built in 1871 by **Thomas Avery**."
    assert marked_sentence(answer, bold=True) == "It was built in 1871 by \033[1mThomas Avery\033[0m."
    assert [Answer(text="x", score=s).confidence for s in (0.95, 0.7, 0.2)] == ["high", "medium", "low"]


def test_eval_jsonl_ends_with_the_metrics_as_json(capsys, tiny_corpus: Path, tmp_path: Path,
                                                  reader_model: str) -> None:
    code, out, _ = run(capsys, "eval", DATA / "questions" / "tiny.jsonl", "--json", "--reader", reader_model,
                       "--threshold", "0", "--top-k", "3", "--corpus", tiny_corpus, "--index-dir", tmp_path / "index")
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    for key in ("exact_match", "f1", "source_accuracy", "recall@5", "no_answer_accuracy"):
        assert 0.0 <= metrics[key] <= 100.0, key
    assert metrics["n"] == 4
    assert metrics["recall@5"] == 100.0  # three one-chunk documents, three passages read: every gold file


def test_eval_writes_one_prediction_row_per_question(capsys, tiny_corpus: Path, tmp_path: Path,
                                                     reader_model: str) -> None:
    questions = DATA / "questions" / "tiny.jsonl"
    out_file = tmp_path / "predictions.jsonl"
    code, out, _ = run(capsys, "eval", questions, "--json", "--reader", reader_model, "--threshold", "0",
                       "--corpus", tiny_corpus, "--index-dir", tmp_path / "index", "--predictions", out_file)
    assert code == 0
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    gold = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [(r["id"], r["question"], r["answers"], r["source"]) for r in rows] == [
        (g["id"], g["question"], g["answers"], g["source"]) for g in gold]
    metrics = json.loads(out.strip().splitlines()[-1])
    assert sum(r["f1"] for r in rows) / len(rows) * 100 == pytest.approx(metrics["f1"], abs=0.01)
    for r in rows:
        if r["prediction"]:  # an answer is a span of the file it cites
            text = read_document(tiny_corpus, tiny_corpus / r["predicted_source"]).text
            assert r["prediction"] in text
        assert r["retrieved"] and (r["gold_rank"] is None or r["retrieved"][r["gold_rank"] - 1] == r["source"])

    # The score written is the one the threshold weighs: at a threshold between the scores, the rows at or
    # above it keep their answers and the rest abstain.
    scores = sorted(r["score"] for r in rows)
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] < scores[-1]
    cut = (scores[0] + scores[-1]) / 2
    run(capsys, "eval", questions, "--reader", reader_model, "--threshold", str(cut), "--corpus", tiny_corpus,
        "--index-dir", tmp_path / "index", "--predictions", out_file)
    at_cut = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["prediction"] for r in at_cut] == [r["prediction"] if r["score"] >= cut else "" for r in rows]

    code, _, _ = run(capsys, "eval", questions, "--retrieval-only", "--corpus", tiny_corpus,
                     "--index-dir", tmp_path / "index", "--predictions", out_file)
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert code == 0 and rows and all("prediction" not in r and r["gold_rank"] == 1 for r in rows)

    for bad in (tmp_path / "no" / "such" / "p.jsonl", tmp_path):
        code, _, err = run(capsys, "eval", questions, "--predictions", bad)
        assert code == 2 and "cannot write predictions" in err and "Traceback" not in err


def test_eval_squad_end_to_end_and_reader_only(capsys, tmp_path: Path, reader_model: str) -> None:
    squad = DATA / "reading-sets" / "tiny-v1.json"
    code, out, _ = run(capsys, "eval", squad, "--json", "--reader", reader_model, "--threshold", "0",
                       "--workdir", tmp_path / "work", "--limit", "3", "--top-k", "3")
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["n"] == 3 and metrics["recall@5"] == 100.0  # three paragraphs, all retrieved
    assert sorted(p.name for p in (tmp_path / "work" / "corpus").iterdir()) == [
        "a000_p000.txt", "a000_p001.txt", "a001_p000.txt"]

    code, out, _ = run(capsys, "eval", squad, "--reader-only", "--json", "--reader", reader_model, "--limit", "3")
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["n"] == 3 and 0.0 <= metrics["f1"] <= 100.0 and "recall@5" not in metrics


def test_eval_choose_threshold_reports_the_threshold_with_the_best_f1(capsys, tiny_corpus: Path, tmp_path: Path,
                                                                      reader_model: str) -> None:
    questions = DATA / "questions" / "tiny.jsonl"
    where = ("--reader", reader_model, "--corpus", tiny_corpus, "--index-dir", tmp_path / "index", "--json")

    def f1_and_threshold(*options: str) -> tuple[float, float | None]:
        code, out, _ = run(capsys, "eval", questions, *where, *options)
        assert code == 0
        metrics = json.loads(out.strip().splitlines()[-1])
        return metrics["f1"], metrics.get("threshold")

    best, chosen = f1_and_threshold("--choose-threshold")
    assert 0.0 <= chosen < 1.0
    assert f1_and_threshold("--threshold", str(chosen)) == (best, None)  # the figures it reports are real
    assert best >= f1_and_threshold("--threshold", "0")[0] and best >= f1_and_threshold()[0]

    code, out, _ = run(capsys, "eval", DATA / "reading-sets" / "tiny-v1.json", "--reader-only", "--choose-threshold",
                       "--json", "--reader", reader_model)
    metrics = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and "threshold" in metrics and "retrieval" not in metrics
    code, _, err = run(capsys, "eval", questions, *where, "--choose-threshold", "--threshold", "0.5")
    assert code == 2 and "drop --threshold" in err


def test_eval_choose_threshold_can_decline_every_question(capsys, tiny_corpus: Path, tmp_path: Path,
                                                          reader_model: str) -> None:
    # One question the corpus cannot answer: declining it is the best, and the threshold that does so is real.
    questions = tmp_path / "unanswerable.jsonl"
    questions.write_text('{"id": "u1", "question": "Who is the mayor of the harbour town?", "answers": [], '
                         '"source": null}\n', encoding="utf-8")
    where = ("--reader", reader_model, "--corpus", tiny_corpus, "--index-dir", tmp_path / "index", "--json")
    code, out, _ = run(capsys, "eval", questions, *where, "--choose-threshold")
    metrics = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and metrics["f1"] == 100.0 and metrics["no_answer_accuracy"] == 100.0
    assert 0.0 <= metrics["threshold"] <= 1.0
    code, out, _ = run(capsys, "eval", questions, *where, "--threshold", str(metrics["threshold"]))
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["f1"] == 100.0


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "1", "question": "Who?", "answers": ["A"], "source": "a.txt"}\n{"id": "2", "answers": []}\n',
     'line 2: missing "question"'),
    ("", "holds no questions"),
    # Too long to ask: said before any work, with where it stands, not once the run reaches it.
    ('{"id": "1", "question": "Who?", "answers": []}\n{"id": "long", "question": "' + "why " * 400 + '"}\n',
     "line 2 (id long): the question is 1,599 characters long"),
])
def test_eval_of_a_bad_question_set_is_a_clear_error(capsys, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "eval", path, "--corpus", tmp_path, "--index-dir", tmp_path / "index",
                       "--reader", tmp_path / "no-reader")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "index").exists()


def squad_with(answer: object = "Avery", context: object = "Thomas Avery keeps the lighthouse.") -> bytes:
    qa = {"id": "l1", "question": "Who keeps the lighthouse?", "answers": [{"text": answer, "answer_start": 7}]}
    return json.dumps({"data": [{"title": "Lighthouse", "paragraphs": [{"context": context, "qas": [qa]}]}]}).encode()


@pytest.mark.parametrize(("name", "content", "message"), [
    # Said before any indexing or asking, with the file and the place: not an AttributeError traceback.
    ("set.json", squad_with(answer=5), "set.json, article 0 ('Lighthouse'), paragraph 0, question 'l1': "
                                       "an answer's text must be text, not 5"),
    ("set.json", squad_with(answer=None), "question 'l1': an answer's text must be text, not None"),
    ("set.json", squad_with(context=12), "set.json, article 0 ('Lighthouse'), paragraph 0: the context must be text"),
    ("set.jsonl", b'\xff\xfe{"id": "1", "question": "Who?"}\n', "set.jsonl is not UTF-8 text (byte 0 is 0xff)"),
    ("set.json", b'\xff{"data": []}', "set.json is not UTF-8 text (byte 0 is 0xff)"),
])
def test_eval_of_a_malformed_file_names_it_and_the_place(capsys, tmp_path: Path, name: str, content: bytes,
                                                         message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, _, err = run(capsys, "eval", path, "--corpus", tmp_path, "--index-dir", tmp_path / "index",
                       "--workdir", tmp_path / "work")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "index").exists() and not (tmp_path / "work").exists()


@pytest.mark.parametrize("limit", ["0", "-2", "many"])
def test_eval_limit_must_be_a_positive_number(capsys, limit: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eval", str(DATA / "questions" / "tiny.jsonl"), "--limit", limit])
    _, err = capsys.readouterr()
    assert info.value.code == 2 and "argument --limit" in err
    assert ("must be at least 1" if limit != "many" else "expected a whole number") in err


def test_eval_errors(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "eval", DATA / "questions" / "tiny.jsonl", "--reader", tmp_path / "no-reader",
                       "--corpus", DATA / "tiny", "--index-dir", tmp_path / "index")
    assert code == 2 and "no reader model" in err and "add --retrieval-only" in err
    assert not (tmp_path / "index").exists()  # said before any indexing
    code, _, err = run(capsys, "eval", tmp_path / "missing.jsonl")
    assert code == 2 and "no question set" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.1"}', encoding="utf-8")
    code, _, err = run(capsys, "eval", broken)
    assert code == 2 and "not a SQuAD file" in err
    code, _, err = run(capsys, "eval", DATA / "questions" / "tiny.jsonl", "--reader-only")
    assert code == 2 and "--reader-only needs a SQuAD file" in err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["ask", "q", "--retrieval", "magic"])
    assert info.value.code == 2
    capsys.readouterr()
