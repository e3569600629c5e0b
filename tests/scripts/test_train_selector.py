"""scripts/train_selector.py: reading rules replayed from the cache, the question mix, and a run over tiny sets."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.eval import metrics as ev

from qa.eval import questions as qs
from qa.answering.selector import SELECTOR_FILE, Selector, reader_fingerprint

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_selector.py"
SETS = ROOT / "tests" / "data" / "reading-sets"

spec = importlib.util.spec_from_file_location("train_selector", SCRIPT)
ts = importlib.util.module_from_spec(spec)
sys.modules["train_selector"] = ts
spec.loader.exec_module(ts)


def cached(fused: list[float], confidences: list[float]) -> dict:
    """A cached question: passages with these fused scores, each with one span of this confidence."""
    return {"question": "Who?", "answers": ["A"], "kind": "answerable", "id": "q",
            "hits": [[f"p{i}.txt", 0, 10, s, i + 1, i + 1, 0.5, 3.0] for i, s in enumerate(fused)],
            "spans": [[["A", 0, 1, c, 0.5, 1.0, 1.0]] for c in confidences]}  # no-answer 0.5: confidence = score


def test_replay_reads_as_the_pipeline_does() -> None:
    row = cached([1.0, 0.7, 0.4], [0.6, 0.9, 0.95])
    assert ts.replay(row, 0.0, 1.0)[1] == 3  # everything
    assert ts.replay(row, 0.5, 1.0)[1] == 2  # the third scores under half the best
    candidates, read = ts.replay(row, 0.0, 0.8)  # stops after the first sure passage
    assert read == 2 and [c.rank for c in candidates] == [0, 1]


def test_the_mix_takes_each_kind_in_its_share() -> None:
    kinds = ["answerable"] * 30 + ["out of corpus"] * 10 + ["answer removed"] * 10 + ["adversarial"] * 10
    preds = [ev.Prediction(qs.Question(str(i), "?", (), None), "", None, []) for i in range(len(kinds))]
    taken = ts.mixed(preds, kinds, [0.75, 0.1, 0.1, 0.05], seed=0)
    ids = [int(p.question.id) for p in taken]
    assert len(taken) == len(set(ids)) == 40  # as many as the 30 answerable allow at 75%
    assert [sum(lo <= i < hi for i in ids) for lo, hi in ((0, 30), (30, 40), (40, 50), (50, 60))] == [30, 4, 4, 2]


def test_a_question_without_its_answer_reads_only_the_other_passages() -> None:
    row = cached([1.0, 0.7, 0.4], [0.6, 0.9, 0.95])
    removed = ts.without_answer(row, "p1.txt")
    assert removed["kind"] == "answer removed" and removed["answers"] == []
    assert [h[0] for h in removed["hits"]] == ["p0.txt", "p2.txt"] and len(removed["spans"]) == 2
    assert ts.without_answer(row, "elsewhere.txt") is None  # the gold passage was not retrieved


@pytest.fixture
def squad_dir(tmp_path: Path) -> Path:
    squad = tmp_path / "squad"
    squad.mkdir()
    for name, source in (("dev-v2.0.json.gz", "tiny-v2.json"), ("train-v1.1.json.gz", "tiny-v1.json")):
        with gzip.open(squad / name, "wb") as f:
            f.write((SETS / source).read_bytes())
    return squad


def test_a_run_over_tiny_sets_writes_a_selector_for_its_reader(tmp_path: Path, squad_dir: Path,
                                                                trained_reader_model: str) -> None:
    reader = tmp_path / "reader"
    shutil.copytree(trained_reader_model, reader)
    out = tmp_path / "selector"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--reader", str(reader), "--squad-dir", str(squad_dir), "--every", "1",
         "--hold-every", "2", "--mix", "0.8,0.2,0,0", "--rules", "0.5:0.8,0.0:1.0", "--workdir", str(tmp_path / "work"),
         "--out", str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    model = json.loads((out / SELECTOR_FILE).read_text())
    assert model["reader"]["sha256"] == reader_fingerprint(str(reader))
    assert [r["min_score_ratio"] for r in model["training"]["rules"]] == [0.5, 0.0]
    assert 0.0 <= model["threshold"] <= 1.0
    selector = Selector(out / SELECTOR_FILE, str(reader))
    selector.warm_up()  # the file it wrote is one the pipeline takes
    assert selector.threshold == model["threshold"]
    assert any((tmp_path / "work" / "cache").glob("*.jsonl.gz"))  # the reading is cached for the next run
    # A mix that the held-back articles cannot make is refused, by name.
    again = subprocess.run(run.args[:-2] + ["--mix", "0.5,0,0,0.5", "--out", str(out)], capture_output=True,
                           text=True, timeout=600, check=False)
    assert again.returncode != 0 and "no adversarial questions" in again.stderr
