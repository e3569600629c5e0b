"""qa.eval.report: `qa eval --report`, its figures' numbers, and the page in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.config import default_selector
from qa.eval.metrics import Prediction
from qa.eval.questions import Question
from qa.eval.report import coverage_curve, per_document, recalls, reliability_bins, render_report
from qa.types import Answer
from qa.ui.cli import main

DATA = Path(__file__).parents[1] / "data"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")


def test_coverage_curve_answers_the_surest_first() -> None:
    def said(best: str, score: float | None) -> Prediction:
        return Prediction(Question("q", "Who?", ("Avery",), "a.txt"), "", None, [], score, best)

    predictions = [said("Avery", 0.9), said("Brown", 0.8), said("Avery", 0.8), said("Brown", 0.3), said("", None)]
    # Thresholds at each score: the two at 0.8 come in together; a question without a candidate never does.
    assert coverage_curve(predictions) == [(0.9, 0.2, 1.0), (0.8, 0.6, 2 / 3), (0.3, 0.8, 0.5)]
    assert coverage_curve(predictions[-1:]) == []


def test_reliability_bins_count_each_score_once() -> None:
    bins = reliability_bins([(0.05, False), (0.95, True), (1.0, True), (0.91, False), (0.5, True)], bins=10)
    assert [n for *_, n in bins] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 3]
    assert bins[9][2] == pytest.approx(2 / 3) and bins[5][2] == 1.0


def _prediction(text: str, source: str | None, gold: tuple[str, ...], gold_source: str | None,
                retrieved: list[str], answer: Answer | None = None) -> Prediction:
    return Prediction(Question("q", "Who?", gold, gold_source), text, source, retrieved, 0.9, text, answer)


def test_recall_at_k_and_per_document_come_from_the_predictions() -> None:
    deep = [_prediction("", None, ("x",), "a.txt", ["b.txt", "a.txt"]),
            _prediction("", None, ("x",), "b.txt", ["b.txt"]),
            _prediction("", None, (), None, ["a.txt"])]  # no gold document: not counted
    assert recalls(deep, k_max=3) == [(1, 0.5), (2, 1.0), (3, 1.0)]
    rows = per_document([_prediction("x", "a.txt", ("x",), "a.txt", []), _prediction("y", "b.txt", ("x",), "a.txt", []),
                         _prediction("x", "b.txt", ("x",), "b.txt", [])])
    assert rows == [("a.txt", 0.5, 2, 0.5), ("b.txt", 1.0, 1, 1.0)]


def test_a_wrong_answer_is_shown_with_both_spans_marked() -> None:
    context = "The lighthouse was built in 1871 by the engineer Thomas Avery for the harbour board."
    wrong = Answer(text="the harbour board", score=0.8, source="a.txt", start=100 + context.index("the harbour"),
                   end=100 + context.index("the harbour") + 17, context=context, context_start=100)
    page = render_report({"f1": 0.0, "n": 1}, [_prediction(wrong.text, "a.txt", ("Thomas Avery",), "a.txt",
                                                           ["a.txt"], wrong)], None, {}, 0.7)
    assert "<mark class='pred'>the harbour board</mark>" in page
    assert "<mark class='gold'>Thomas Avery</mark>" in page
    assert "Answered wrong (1)" in page and "Declined, though answerable (0)" in page


def test_eval_report_is_self_contained_and_shows_its_plots_in_a_browser(capsys, tiny_corpus: Path, tmp_path: Path,
                                                                       reader_model: str) -> None:
    report = tmp_path / "report.html"
    code = main(["eval", str(DATA / "questions" / "tiny.jsonl"), "--reader", reader_model, "--corpus",
                 str(tiny_corpus), "--index-dir", str(tmp_path / "index"), "--report", str(report)])
    capsys.readouterr()
    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert len(re.findall(r"<img class='plot' alt='[^']+' src='data:image/png;base64,", page)) == 4
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page), "the report must fetch nothing"
    assert "<table class=\"metrics\">" in page and "exact_match" in page

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1000})
            tab.on("request", lambda r: fetched.append(r.url))
            tab.goto(report.as_uri(), wait_until="load")
            sizes = tab.evaluate("[...document.querySelectorAll('img.plot')].map(i => [i.alt, i.naturalWidth, "
                                 "i.getBoundingClientRect().width])")
            assert sorted(alt for alt, *_ in sizes) == ["recall at k", "reliability diagram", "risk-coverage curve",
                                                         "source accuracy per document"]
            assert all(natural > 100 and shown > 100 for _, natural, shown in sizes), sizes  # decoded and laid out
            tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []


@pytest.mark.parametrize("settings", [[], ["--selector", ""], ["--threshold", "0.3"]])
def test_the_report_shows_the_threshold_the_answers_were_given_at(capsys, tiny_corpus: Path, tmp_path: Path,
                                                                 reader_model: str, settings: list[str]) -> None:
    report, rows = tmp_path / "report.html", tmp_path / "predictions.jsonl"
    code = main(["eval", str(DATA / "questions" / "tiny.jsonl"), "--reader", reader_model, "--corpus",
                 str(tiny_corpus), "--index-dir", str(tmp_path / "index"), "--report", str(report),
                 "--predictions", str(rows), *settings])
    capsys.readouterr()
    assert code == 0
    shown = float(re.search(r"answers given at threshold (\d[\d.e-]*\d)", report.read_text(encoding="utf-8"))[1])
    predictions = [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines()]
    answered = [p["score"] for p in predictions if p["prediction"]]
    declined = [p["score"] for p in predictions if not p["prediction"] and p["best"]]
    assert answered or declined
    # Every answer reached the threshold shown, and every candidate declined fell short of it (as shown, to 4 significant digits).
    assert all(s >= shown - 5e-5 for s in answered) and all(s < shown + 5e-5 for s in declined)
    if not settings:  # the selector's, which the answers were given at (not the reader's)
        expected = json.loads(Path(default_selector(), "selector.json").read_text())["threshold"]
    elif settings[0] == "--threshold":
        expected = float(settings[1])
    else:  # no selector: the reader's own
        expected = json.loads((Path(reader_model) / "qa_reader.json").read_text())["threshold"]
    assert shown == pytest.approx(expected, abs=5e-5)  # shown to 4 significant digits: within 5e-5 below 1
