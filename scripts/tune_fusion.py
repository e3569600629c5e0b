"""Choose hybrid retrieval's dense weight, candidate depth and `min_score_ratio` on SQuAD *train* questions.

The sets we report on (SQuAD v1.1 dev, eval/seeds.jsonl) take no part in the choice; check the
chosen values on them afterwards with `qa eval ... --retrieval-only` (and `QA_DENSE_WEIGHT`,
`QA_CANDIDATES` to try others). Every `--every`-th train article becomes a document corpus, indexed
in `--workdir`; each question's dense and BM25 lists are searched once, at the largest depth, and
every grid point fuses them as `qa.answering.retriever.Retriever` does. The weight and depth are those of the
best MRR; then, at those, the ratio is the largest whose recall@5 stays within `--recall-slack`
points of reading all five passages (fewer passages, faster reading).

    .venv/bin/python scripts/tune_fusion.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval import metrics as ev

from qa.eval import questions as qs
from qa.pipeline import Assistant
from qa.answering.retriever import Retriever


def main() -> int:
    """Print recall@1, recall@5 and MRR for each grid point, and the values chosen."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--squad", default=str(ROOT.parent / "shared" / "data" / "squad" / "train-v1.1.json.gz"))
    p.add_argument("--every", type=int, default=9, help="keep every n-th article (default 9: ~1,900 paragraphs)")
    p.add_argument("--workdir", default="/tmp/qa-tune-fusion", help="the sample's corpus and index")
    p.add_argument("--candidates", default="30,50,100")
    p.add_argument("--weights", default=",".join(f"{w / 20:.2f}" for w in range(21)))
    p.add_argument("--ratios", default=",".join(f"{r / 20:.2f}" for r in range(15)))
    p.add_argument("--recall-slack", type=float, default=0.5, help="recall@5 points a ratio may cost")
    args = p.parse_args()

    sample = qs.squad_set(qs.squad_articles(Path(args.squad)), lambda a, _: a % args.every == 0)
    paragraphs, questions = sample.paragraphs, sample.questions
    work = Path(args.workdir)
    qs.write_corpus(paragraphs, work / "corpus")
    assistant = Assistant(corpus=work / "corpus", index_dir=work / "index", retrieval="hybrid")
    assistant.index()
    print(f"{len(paragraphs):,} paragraphs, {assistant.store.chunk_count():,} chunks, {len(questions):,} questions",
          file=sys.stderr)

    depths = [int(x) for x in args.candidates.split(",")]
    texts = [assistant.check_question(q.question) for q in questions]
    dense = []
    for i in range(0, len(texts), 256):
        dense += assistant.store.search_dense(assistant.embedder.embed(texts[i:i + 256]), max(depths))
    keyword = [assistant.store.search_bm25(t, max(depths)) for t in texts]

    retriever = Retriever(assistant.store, assistant.embedder, mode="hybrid")

    def scores(depth: int) -> dict:
        return ev.score_retrieval([ev.Prediction(q, "", None, [h.chunk.source for h in retriever.rank(d[:depth], b[:depth], 5)])
                                   for q, d, b in zip(questions, dense, keyword)])

    results = []
    print(f"{'candidates':>10} {'dense weight':>12} {'recall@1':>9} {'recall@5':>9} {'MRR':>7}")
    for depth in depths:
        for weight in (float(w) for w in args.weights.split(",")):
            retriever.dense_weight = weight
            m = scores(depth)
            results.append((m["mrr"], m["recall@5"], depth, weight))
            print(f"{depth:>10} {weight:>12.2f} {m['recall@1']:>9.2f} {m['recall@5']:>9.2f} {m['mrr']:>7.2f}")
    mrr, r5, depth, weight = max(results)
    print(f"best by MRR: candidates {depth}, dense weight {weight:.2f} (MRR {mrr:.2f}, recall@5 {r5:.2f})")

    retriever.dense_weight = weight
    print(f"{'min score ratio':>15} {'recall@1':>9} {'recall@5':>9} {'MRR':>7} {'passages':>9}")
    chosen = 0.0
    for ratio in (float(r) for r in args.ratios.split(",")):
        retriever.min_score_ratio = ratio
        m = scores(depth)
        if m["recall@5"] >= r5 - args.recall_slack:
            chosen = max(chosen, ratio)
        print(f"{ratio:>15.2f} {m['recall@1']:>9.2f} {m['recall@5']:>9.2f} {m['mrr']:>7.2f} "
              f"{m['passages_per_question']:>9.2f}")
    print(f"min score ratio {chosen:.2f}: the largest within {args.recall_slack} points of recall@5 {r5:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
