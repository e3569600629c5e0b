"""Where a contract states its own facts: the share of CUAD's factoid answers that stand in the first passage of their
document, per category, on the train part only (`qa.eval.splits`). The basis of `qa.answering.head`'s rule: the
categories whose answers stand there are the ones its questions ask for.

    .venv/bin/python scripts/cuad_heads.py [--data ../shared/data/realdocs/cuad]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from script_common import ROOT

from qa.answering.head import asks_about_document
from qa.config import Settings
from qa.eval.splits import document_part
from qa.ingest.chunking import chunk_document
from qa.ingest.documents import read_document


def first_passage_share(rows: list[dict], corpus: Path, part: str = "train") -> dict[str, Counter]:
    """Per category, of the answerable questions of `part` whose answer the cleaned document holds: how many
    (`found`), how many have an answer whole in the document's first passage (`first`), and how many are asked as
    a question about the document itself (`asks`)."""
    s = Settings()
    texts: dict[str, tuple[str, str]] = {}  # source -> (its text, its first passage)
    counts: dict[str, Counter] = defaultdict(Counter)
    for q in rows:
        if q.get("kind") != "answerable" or document_part(q["doc"]) != part:
            continue
        if q["source"] not in texts:
            doc = read_document(corpus, corpus / q["source"])
            chunks = chunk_document(doc, s.chunk_words, s.chunk_max_words, s.chunk_overlap_words)
            texts[q["source"]] = (doc.text, chunks[0].text if chunks else "")
        text, head = texts[q["source"]]
        if not any(a in text for a in q["answers"]):
            continue
        c = counts[q["category"]]
        c["found"] += 1
        c["first"] += any(a in head for a in q["answers"])
        c["asks"] += asks_about_document(q["question"])
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "realdocs" / "cuad"))
    args = p.parse_args()
    data = Path(args.data)
    rows = [json.loads(line) for line in (data / "factoid.jsonl").read_text(encoding="utf-8").splitlines()]
    counts = first_passage_share(rows, data / "corpus")
    print(f"{'category':38} {'answers':>8} {'in the first passage':>21}  asked about the document")
    for category, c in sorted(counts.items(), key=lambda kv: -kv[1]["first"] / max(1, kv[1]["found"])):
        print(f"{category:38} {c['found']:8d} {100 * c['first'] / c['found']:20.1f}%  "
              f"{'yes' if c['asks'] == c['found'] else 'no' if not c['asks'] else 'some'}")
    print(json.dumps({k: dict(v) for k, v in counts.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
