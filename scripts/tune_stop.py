"""Choose `stop_confidence`, the span confidence after which the pipeline reads no further passages.

Two sets that no reported figure comes from: the SQuAD v2.0 dev articles held back to choose the
reader's threshold (named in the reader's qa_reader.json; half their questions cannot be answered),
and SQuAD v1.1 train questions (every `--every`-th article, as `tune_fusion.py` takes them). Each
set's paragraphs become a corpus, indexed in `--workdir`. Every passage the pipeline would read for a
question is read once, alone; each grid value then replays the pipeline's rule (passages best first,
none after one whose best span reaches the value) and is scored at the reader's threshold and never
abstaining. Chosen: the lowest value whose F1, both ways, stays within `--slack` points of reading
every passage, on both sets. The value depends on the reader's confidences: choose it again when the
reader changes.

    .venv/bin/python scripts/tune_stop.py
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval import metrics as ev

from qa.eval import questions as qs
from qa.pipeline import Assistant
from qa.answering.reader import CALIBRATION_FILE

SQUAD = ROOT.parent / "shared" / "data" / "squad"


@dataclass
class Read:
    """One question: its best span in each passage it would read, in retrieval order."""

    spans: list[tuple[float, float] | None]  # (confidence, F1) of the passage's best span; None: no span
    abstain_f1: float  # the F1 of saying nothing: 1 for a question with no answer


def read_every_passage(assistant: Assistant, questions: list[qs.Question]) -> list[Read]:
    """Retrieve for each question as the pipeline does, and read each passage on its own."""
    reads = []
    for q in questions:
        spans = []
        for hit in assistant.retrieve(q.question):
            found = assistant.reader.run(q.question, [hit.chunk.text], top_k=1)
            spans.append((found[0].confidence, ev.f1_score(found[0].text, q.answers)) if found else None)
        reads.append(Read(spans, ev.f1_score("", q.answers)))
    return reads


def replay(reads: list[Read], stop: float, threshold: float) -> tuple[float, float]:
    """(F1 in percent, passages read per question) under the pipeline's rule with this stop value."""
    total = passages = 0.0
    for r in reads:
        best = None
        for span in r.spans:
            passages += 1
            if span and (best is None or span[0] > best[0]):
                best = span
            if stop < 1.0 and span and span[0] >= stop:
                break
        total += best[1] if best and best[0] >= threshold else r.abstain_f1
    return 100 * total / max(1, len(reads)), passages / max(1, len(reads))


def main() -> int:
    """Print F1 and passages read for each grid value on both sets, and the value chosen."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    p.add_argument("--squad-dir", default=str(SQUAD))
    p.add_argument("--every", type=int, default=9, help="keep every n-th train article (as tune_fusion.py)")
    p.add_argument("--train-questions", type=int, default=1500, help="a reproducible sample of the train questions")
    p.add_argument("--workdir", default="/tmp/qa-tune-stop", help="the two sets' corpora and indexes")
    p.add_argument("--values", default="0.6,0.65,0.7,0.75,0.8,0.85,0.9")
    p.add_argument("--slack", type=float, default=0.1, help="F1 points a value may cost against reading all")
    args = p.parse_args()

    info = json.loads((Path(args.reader) / CALIBRATION_FILE).read_text(encoding="utf-8"))
    threshold, held = info["threshold"], set(info["threshold_data"]["articles"])
    squad = Path(args.squad_dir)
    sets = {
        "held-back v2.0 dev articles": qs.squad_set(qs.squad_articles(squad / "dev-v2.0.json.gz"),
                                                    lambda _, article: article["title"] in held),
        "v1.1 train sample": qs.squad_set(qs.squad_articles(squad / "train-v1.1.json.gz"),
                                          lambda a, _: a % args.every == 0),
    }
    values = sorted(float(v) for v in args.values.split(","))
    table: dict[str, dict[float, tuple[float, float, float]]] = {}
    for name, squad_set in sets.items():
        questions = squad_set.questions
        if name.startswith("v1.1"):
            questions = qs.sample(questions, args.train_questions)
        work = Path(args.workdir) / name.split()[0]
        qs.write_corpus(squad_set.paragraphs, work / "corpus")
        assistant = Assistant(corpus=work / "corpus", index_dir=work / "index", reader_model=args.reader)
        assistant.warm_up()
        reads = read_every_passage(assistant, questions)
        print(f"{name}: {len(squad_set.paragraphs):,} paragraphs, {len(questions):,} questions")
        print(f"{'stop':>6} {'F1 at threshold':>16} {'F1 never abstaining':>20} {'passages read':>14}")
        table[name] = {}
        for stop in [*values, 1.0]:
            f1_at, passages = replay(reads, stop, threshold)
            f1_all, _ = replay(reads, stop, 0.0)
            table[name][stop] = (f1_at, f1_all, passages)
            print(f"{stop:>6.2f} {f1_at:>16.2f} {f1_all:>20.2f} {passages:>14.2f}")

    def within(stop: float) -> bool:
        return all(row[stop][i] >= row[1.0][i] - args.slack for row in table.values() for i in (0, 1))

    chosen = next((v for v in values if within(v)), 1.0)
    print(f"stop_confidence {chosen:.2f}: the lowest within {args.slack} F1 points of reading every passage "
          f"on both sets (threshold {threshold:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
