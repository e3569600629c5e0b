"""scripts/tune_stop.py: the pipeline's stopping rule replayed, and a run over tiny SQuAD-style sets."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "tune_stop.py"
SETS = ROOT / "tests" / "data" / "reading-sets"

spec = importlib.util.spec_from_file_location("tune_stop", SCRIPT)
ts = importlib.util.module_from_spec(spec)
sys.modules["tune_stop"] = ts  # dataclasses look their module up there
spec.loader.exec_module(ts)


def test_replay_stops_after_the_first_sure_passage() -> None:
    reads = [ts.Read([(0.6, 0.0), (0.9, 1.0), (0.95, 0.5)], 0.0),  # the third passage is never read at 0.8
             ts.Read([None, (0.5, 1.0)], 0.0),  # no span in the best passage: read on
             ts.Read([(0.4, 0.0), (0.3, 0.0)], 1.0)]  # unanswerable: nothing sure, so it abstains at 0.45
    assert ts.replay(reads, 0.8, 0.45) == pytest.approx((100 * (1.0 + 1.0 + 1.0) / 3, (2 + 2 + 2) / 3))
    assert ts.replay(reads, 1.0, 0.45) == pytest.approx((100 * (0.5 + 1.0 + 1.0) / 3, (3 + 2 + 2) / 3))
    assert ts.replay(reads, 0.8, 0.0) == pytest.approx((100 * (1.0 + 1.0 + 0.0) / 3, 2.0))


def test_the_grid_is_scored_on_both_sets_and_a_value_chosen(tmp_path: Path, reader_model: str) -> None:
    reader = tmp_path / "reader"
    shutil.copytree(reader_model, reader)
    calibration = json.loads((reader / "qa_reader.json").read_text(encoding="utf-8"))
    calibration["threshold_data"] = {"articles": ["Kites"]}  # the tiny v2 set's one article stands for them
    (reader / "qa_reader.json").write_text(json.dumps(calibration), encoding="utf-8")
    squad = tmp_path / "squad"
    squad.mkdir()
    for name, source in (("dev-v2.0.json.gz", "tiny-v2.json"), ("train-v1.1.json.gz", "tiny-v1.json")):
        with gzip.open(squad / name, "wb") as f:
            f.write((SETS / source).read_bytes())
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--reader", str(reader), "--squad-dir", str(squad), "--every", "1",
         "--workdir", str(tmp_path / "work"), "--values", "0.5,0.9"],
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if re.match(r"\s+[01]\.\d\d(\s+[\d.]+){3}$", line)]
    assert [r[0] for r in rows] == ["0.50", "0.90", "1.00"] * 2  # each set, each value, and reading all
    for _, f1_at, f1_all, passages in rows:
        assert 0 <= float(f1_at) <= 100 and 0 <= float(f1_all) <= 100 and 1 <= float(passages) <= 5
    for table in (rows[:3], rows[3:]):  # a higher value reads at least as many passages
        assert [float(r[3]) for r in table] == sorted(float(r[3]) for r in table)
    assert re.search(r"stop_confidence (0\.50|0\.90|1\.00): the lowest within 0\.1 F1 points", run.stdout)
