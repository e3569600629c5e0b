"""scripts/tune_fusion.py on a tiny SQuAD-style set: it indexes the sample and prints every grid point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_grid_is_scored_and_the_best_point_named(tmp_path: Path) -> None:
    squad = ROOT / "tests" / "data" / "reading-sets" / "tiny-v1.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tune_fusion.py"), "--squad", str(squad), "--every", "1",
         "--workdir", str(tmp_path), "--candidates", "2,5", "--weights", "0,0.5,1",
         "--ratios", "0,0.5,0.9"],
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    rows = [line.split() for line in lines if re.match(r"\s+\d+\s+\d\.\d\d\s+[\d.]+\s+[\d.]+\s+[\d.]+$", line)]
    assert [(r[0], r[1]) for r in rows] == [(c, w) for c in ("2", "5") for w in ("0.00", "0.50", "1.00")]
    for _, _, r1, r5, mrr in rows:
        assert 0 <= float(r1) <= float(mrr) <= float(r5) <= 100
    best = re.search(r"best by MRR: candidates (\d+), dense weight ([\d.]+) \(MRR ([\d.]+)", run.stdout)
    assert best and float(best.group(3)) == max(float(r[4]) for r in rows)
    ratios = [line.split() for line in lines if re.match(r"\s+0\.\d\d(\s+[\d.]+){4}$", line)]
    assert [r[0] for r in ratios] == ["0.00", "0.50", "0.90"]
    for _, r1, r5, mrr, passages in ratios:
        assert 0 <= float(r1) <= float(mrr) <= float(r5) <= 100 and 1 <= float(passages) <= 5
    assert float(ratios[0][4]) >= float(ratios[1][4]) >= float(ratios[2][4])  # a higher ratio keeps fewer
    assert re.search(r"min score ratio (0\.00|0\.50|0\.90): the largest within 0\.5 points", run.stdout)
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["a000_p000.txt", "a000_p001.txt",
                                                                       "a001_p000.txt"]
