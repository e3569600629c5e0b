"""scripts/cuad_heads.py: the share of factoid answers in their document's first passage, per category."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from qa.eval.splits import document_part

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
spec = importlib.util.spec_from_file_location("cuad_heads", ROOT / "scripts" / "cuad_heads.py")
ch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ch)


def name_in(part: str, stem: str) -> str:
    return next(f"{stem}{i}.txt" for i in range(100) if document_part(f"{stem}{i}.txt") == part)


def test_first_passage_share_counts_answers_in_the_first_passage(tmp_path: Path) -> None:
    head = "SUPPLY AGREEMENT\n\nThis Agreement is made as of June 21, 1999 by Acme Inc. and Beta LLC.\n\n"
    body = "".join(f"Clause {i}. The Buyer pays the fees of clause {i} of this agreement within ten days.\n\n"
                   for i in range(60)) + "Clause 60. The law of Kansas governs this agreement."
    train, report = name_in("train", "c"), name_in("report", "c")
    for name in (train, report):
        (tmp_path / name).write_text(head + body, encoding="utf-8")
    rows = [
        {"question": "What is the date of the contract?", "answers": ["June 21, 1999"], "category": "Agreement Date"},
        {"question": "Which state or country's law governs the contract?", "answers": ["Kansas"],
         "category": "Governing Law"},
        {"question": "What is the duration of the warranty?", "answers": ["not there"], "category": "Warranty"},
    ]
    rows = [{**r, "kind": "answerable", "doc": d, "source": d} for d in (train, report) for r in rows]
    counts = ch.first_passage_share(rows, tmp_path)
    assert dict(counts["Agreement Date"]) == {"found": 1, "first": 1, "asks": 1}  # the report part is left out
    assert counts["Governing Law"]["found"] == 1 and counts["Governing Law"]["asks"] == 0
    assert counts["Governing Law"]["first"] == 0  # "Kansas" stands in the last clause
    assert "Warranty" not in counts  # an answer the document does not hold is not counted
