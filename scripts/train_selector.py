"""Train the answer selector (`qa.answering.selector`) on the bundled reader's candidates, end to end, on the CPU.

Training data goes through the real pipeline: each SQuAD article's paragraphs become a corpus, indexed
in `--workdir`, so the passages the retriever returns beside the gold one are real distractors.
- answerable: questions of SQuAD v1.1 *train* articles, asked of their own article;
- out of corpus: questions of the next article in the list, asked of this one (the common way a user's
  question goes unanswered);
- adversarial: the unanswerable questions of the train half of SQuAD v2.0 dev (`qa.eval.splits.report_half`),
  less the four articles the reader's threshold was chosen on, which we report on.
Articles are split, by their index, into a training part and a held-back part. The selector is fitted on the
training part; its threshold is chosen on the held-back part, as the F1-best threshold on a mix of
`--mix` answerable : out of corpus : adversarial questions (`qa.eval.metrics.choose_threshold`). No question of
seeds/, eval/seeds.jsonl, SQuAD v1.1 dev or the v2.0 report half is read.

The reader reads every retrieved passage once per question (all `top_k`, no early stop); the candidates are
cached in `--workdir` and each reading rule (`min_score_ratio`, `stop_confidence`) is replayed from them,
as `qa.pipeline.Assistant` reads. The baseline, ranking by the reader's own confidence with a threshold
chosen the same way, is reported beside the selector.

    .venv/bin/python scripts/train_selector.py            # about 40 minutes on 2 cores, most of it reading
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval import metrics as ev

from qa.eval import questions as qs
from qa.eval.splits import report_half
from qa.answering.evidence import FEATURE_VERSION, FEATURES, GROUPS, features, gather
from qa.pipeline import Assistant
from qa.answering.reader import CALIBRATION_FILE
from qa.answering.selector import FORMAT, SELECTOR_FILE, reader_fingerprint, trees_from_json
from qa.types import Chunk, Hit, Span

SQUAD = ROOT.parent / "shared" / "data" / "squad"
KINDS = ("answerable", "out of corpus", "answer removed", "adversarial")


def corpora(args: argparse.Namespace) -> list[dict]:
    """The article corpora to read: each with its paragraphs, its questions by kind, and its part."""
    squad, rng = Path(args.squad_dir), random.Random(args.seed)
    held = set(json.loads((Path(args.reader) / CALIBRATION_FILE).read_text(encoding="utf-8"))
               ["threshold_data"]["articles"])
    v1 = [a for i, a in enumerate(qs.squad_articles(squad / "train-v1.1.json.gz")) if i % args.every == 0]
    v1 = v1[: args.v1_articles]
    v2 = [a for a in qs.squad_articles(squad / "dev-v2.0.json.gz")
          if not report_half(a["title"]) and a["title"] not in held]
    out = []
    for group, articles in (("v1.1", v1), ("v2.0", v2)):
        hold = {i for i in range(len(articles)) if i % args.hold_every == args.hold_every - 1}
        for i, article in enumerate(articles):
            s = qs.squad_set([article], lambda *_: True)
            nxt = qs.squad_set([articles[(i + 1) % len(articles)]], lambda *_: True)
            answerable = [q for q in s.questions if q.answerable]
            impossible = [q for q in s.questions if not q.answerable]
            outside = [qs.Question(q.id + "/ooc", q.question, (), None) for q in nxt.questions if q.answerable]
            take = args.per_article
            questions = {"answerable": rng.sample(answerable, min(len(answerable), take)),
                         "out of corpus": rng.sample(outside, min(len(outside), take // 3)),
                         "adversarial": rng.sample(impossible, min(len(impossible), 2 * take if group == "v2.0" else 0))}
            out.append({"name": f"{group}-{i:03d}", "title": article["title"], "part": "held" if i in hold else "train",
                        "paragraphs": s.paragraphs, "questions": questions})
    return out


def read_corpus(corpus: dict, args: argparse.Namespace, cache: Path, models: dict) -> list[dict]:
    """Retrieve and read every question of one corpus, once (cached): its passages and each one's spans."""
    if cache.is_file():
        return [json.loads(line) for line in gzip.open(cache, "rt", encoding="utf-8")]
    work = Path(args.workdir) / corpus["name"]
    qs.write_corpus(corpus["paragraphs"], work / "corpus")
    assistant = Assistant(corpus=work / "corpus", index_dir=work / "index", reader_model=args.reader,
                          selector_model="", min_score_ratio=0.0, stop_confidence=1.0)
    # One embedder and one reader serve every corpus: loading them again for each would cost more than reading.
    assistant.embedder = models.setdefault("embedder", assistant.embedder)
    assistant.reader = models.setdefault("reader", assistant.reader)
    assistant.warm_up()
    rows = []
    for kind, questions in corpus["questions"].items():
        for q in questions:
            hits = assistant.retrieve(q.question)
            spans = assistant.reader.run_many([(q.question, [h.chunk.text]) for h in hits],
                                              top_k=assistant.settings.spans_per_passage)
            rows.append({"kind": kind, "id": q.id, "question": q.question, "answers": list(q.answers),
                         "hits": [[h.chunk.source, h.chunk.start, h.chunk.end, h.score, h.dense_rank, h.bm25_rank,
                                   h.dense_score, h.bm25_score] for h in hits],
                         "spans": [[[sp.text, sp.start, sp.end, sp.score, sp.no_answer_score, sp.start_logit,
                                     sp.end_logit] for sp in found] for found in spans]})
    tmp = cache.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    tmp.replace(cache)
    return rows


def without_answer(row: dict, source: str) -> dict | None:
    """An answerable question asked as if its gold paragraph were not in the corpus: the passages read are
    the others it retrieved, which share its topic and hold none of its evidence. None when the gold
    paragraph was not retrieved."""
    keep = [i for i, hit in enumerate(row["hits"]) if hit[0] != source]
    if not keep or len(keep) == len(row["hits"]):
        return None
    return {**row, "kind": "answer removed", "id": row["id"] + "/removed", "answers": [],
            "hits": [row["hits"][i] for i in keep], "spans": [row["spans"][i] for i in keep]}


def replay(row: dict, min_score_ratio: float, stop: float) -> tuple[list, int]:
    """The candidates the pipeline would weigh for a cached question, and how many passages it would read."""
    hits = [Hit(Chunk("", source, start, end, ""), score, dr, br, ds, bs)
            for source, start, end, score, dr, br, ds, bs in row["hits"]]
    hits = [h for h in hits if h.score >= min_score_ratio * hits[0].score] if hits else []
    read = []
    for i in range(len(hits)):
        read.append([Span(t, a, b, s, n, i, sl, el) for t, a, b, s, n, sl, el in row["spans"][i]])
        if stop < 1.0 and any(sp.confidence >= stop for sp in read[-1]):
            break
    return gather(hits, read), len(read)


def design(rows: list[dict], min_score_ratio: float, stop: float) -> tuple[np.ndarray, np.ndarray, list]:
    """Features and labels (an exact match of a gold answer) of every candidate, and each question's rows."""
    xs, ys, groups, at = [], [], [], 0
    for row in rows:
        candidates, read = replay(row, min_score_ratio, stop)
        x = features(row["question"], candidates, read)
        xs.append(x)
        ys += [ev.exact_match(c.span.text, tuple(row["answers"])) if row["answers"] else 0.0 for c in candidates]
        groups.append((row, candidates, slice(at, at + len(candidates))))
        at += len(candidates)
    return np.concatenate(xs) if xs else np.zeros((0, len(FEATURES))), np.asarray(ys), groups


def fit(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier), as the selector file stores them."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(max_iter=args.trees, max_depth=args.depth, learning_rate=args.learning_rate,
                                         early_stopping=False, random_state=args.seed).fit(x, y)
    trees = []
    for (predictor,) in clf._predictors:  # one tree an iteration for two classes
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        trees.append({"feature": nodes["feature_idx"].astype(int).tolist(),
                      "threshold": nodes["num_threshold"].astype(float).tolist(),
                      "left": np.where(leaf, -1, nodes["left"].astype(np.int64)).tolist(),
                      "right": np.where(leaf, -1, nodes["right"].astype(np.int64)).tolist(),
                      "value": nodes["value"].astype(float).tolist()})
    model = {"baseline": float(np.ravel(clf._baseline_prediction)[0]), "depth": int(max(p.nodes["depth"].max()
             for (p,) in clf._predictors)), "trees": trees}
    # The file is read by qa.answering.selector alone: check that it gives what scikit-learn gives.
    assert np.allclose(trees_from_json(model).probabilities(x[:2000]), clf.predict_proba(x[:2000])[:, 1], atol=1e-9)
    return model


def predictions(groups: list, scores: np.ndarray) -> list[ev.Prediction]:
    """Each question's never-abstaining prediction: its best-scored candidate, with that score."""
    out = []
    for row, candidates, rows in groups:
        q = qs.Question(row["id"], row["question"], tuple(row["answers"]), None)
        if not candidates:
            out.append(ev.Prediction(q, "", None, [], None, ""))
            continue
        best = int(np.argmax(scores[rows]))
        text = candidates[best].span.text
        out.append(ev.Prediction(q, text, None, [], float(scores[rows][best]), text))
    return out


def mixed(preds: list[ev.Prediction], kinds: list[str], mix: list[float], seed: int) -> list[ev.Prediction]:
    """A sample of the predictions in the proportions `mix` of answerable, out-of-corpus and adversarial ones."""
    by_kind = {k: [p for p, kk in zip(preds, kinds) if kk == k] for k in KINDS}
    if missing := [k for k, share in zip(KINDS, mix) if share > 0 and not by_kind[k]]:
        raise SystemExit(f"the held-back articles have no {' or '.join(missing)} questions: hold back more "
                         "articles (--hold-every) or give those kinds no share (--mix)")
    total = min(len(by_kind[k]) / share for k, share in zip(KINDS, mix) if share > 0)
    rng = random.Random(seed)
    return [p for k, share in zip(KINDS, mix) for p in rng.sample(by_kind[k], int(total * share))]


def judge(preds: list[ev.Prediction], threshold: float) -> dict:
    """F1 at the threshold, with AURC and coverage at 90% precision."""
    metrics = ev.score(ev.at_threshold(preds, threshold), reader_only=True)
    return {k: metrics[k] for k in ("f1", "exact_match", "has_answer_f1", "no_answer_accuracy", "aurc",
                                    "coverage_at_90", "n")}


def main() -> int:
    """Read the training questions, fit the selector for each reading rule, and write the chosen one."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    p.add_argument("--squad-dir", default=str(SQUAD))
    p.add_argument("--workdir", default="/tmp/qa-train-selector", help="corpora, indexes and the candidate cache")
    p.add_argument("--out", default=str(ROOT / "models" / "selector"))
    p.add_argument("--every", type=int, default=6, help="v1.1 train articles: every n-th")
    p.add_argument("--v1-articles", type=int, default=16)
    p.add_argument("--per-article", type=int, default=40, help="answerable questions per article")
    p.add_argument("--hold-every", type=int, default=4, help="every n-th article of each group is held back")
    p.add_argument("--mix", default="0.7,0.1,0.15,0.05", help="answerable, out of corpus, answer removed, adversarial")
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--ablation", action="store_true", help="also refit without each group of features")
    p.add_argument("--rules", default="0.5:0.8",
                   help="min_score_ratio:stop_confidence pairs to compare (default: today's reading, which keeps "
                        "the warm latency; 0.5:0.8,0.5:1.0,0.0:0.8,0.0:1.0 compares reading more)")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv := sys.argv[1:])
    mix = [float(v) for v in args.mix.split(",")]
    started = time.time()

    cache = Path(args.workdir) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[dict]] = {"train": [], "held": []}
    all_corpora, models = corpora(args), {}
    for n, corpus in enumerate(all_corpora, 1):
        rows = read_corpus(corpus, args, cache / f"{corpus['name']}.jsonl.gz", models)
        parts[corpus["part"]] += rows
        print(f"[{n}/{len(all_corpora)}] {corpus['name']} {corpus['title']}: {len(rows)} questions "
              f"({time.time() - started:.0f} s)", file=sys.stderr)
    sources = {q.id: q.source for c in all_corpora for q in c["questions"]["answerable"]}
    for rows in parts.values():
        rows += [r for row in rows if row["kind"] == "answerable" and (r := without_answer(row, sources[row["id"]]))]
    counts = {part: {k: sum(r["kind"] == k for r in rows) for k in KINDS} for part, rows in parts.items()}
    print(json.dumps({"questions": counts}))

    results = []
    for rule in args.rules.split(","):
        ratio, stop = (float(v) for v in rule.split(":"))
        x, y, groups = design(parts["train"], ratio, stop)
        model = fit(x, y, args)
        hx, _, held_groups = design(parts["held"], ratio, stop)
        kinds = [row["kind"] for row, _, _ in held_groups]
        scored = {"selector": trees_from_json(model).probabilities(hx),
                  "reader confidence": np.asarray([c.span.confidence for _, cs, _ in held_groups for c in cs])}
        if args.ablation:  # what each group of features adds: the selector refitted without it
            for group, names in GROUPS.items():
                drop = [FEATURES.index(name) for name in names]
                cut_x, cut_hx = x.copy(), hx.copy()
                cut_x[:, drop] = cut_hx[:, drop] = 0.0
                scored[f"selector without {group}"] = trees_from_json(fit(cut_x, y, args)).probabilities(cut_hx)
        chosen = {}
        for name, scores in scored.items():
            preds = mixed(predictions(held_groups, scores), kinds, mix, args.seed)
            threshold = ev.choose_threshold(preds)
            chosen[name] = {"threshold": threshold, **judge(preds, threshold),
                            "all held-back": ev.selective(predictions(held_groups, scores))}
        passages = float(np.mean([read for row in parts["held"] for read in [replay(row, ratio, stop)[1]]]))
        results.append({"min_score_ratio": ratio, "stop_confidence": stop, "passages_read": round(passages, 2),
                        "train_candidates": len(y), "train_positives": int(y.sum()), "model": model, **chosen})
        print(json.dumps({k: v for k, v in results[-1].items() if k != "model"}))

    # Of the rules compared, the cheapest (fewest passages) whose held-back F1 is within half a point of the best's.
    best_f1 = max(r["selector"]["f1"] for r in results)
    pick = min((r for r in results if r["selector"]["f1"] >= best_f1 - 0.5), key=lambda r: r["passages_read"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT, "feature_version": FEATURE_VERSION, "features": list(FEATURES),
                "model": "gradient-boosted trees", **pick["model"], "threshold": pick["selector"]["threshold"],
                "reader": {"sha256": reader_fingerprint(args.reader), "path": "models/reader"},
                "reading": {"min_score_ratio": pick["min_score_ratio"], "stop_confidence": pick["stop_confidence"]},
                "training": {"command": "python scripts/train_selector.py " + " ".join(argv), "seed": args.seed,
                             "mix": dict(zip(KINDS, mix)), "questions": counts, "seconds": round(time.time() - started),
                             "rules": [{k: v for k, v in r.items() if k != "model"} for r in results]}}
    tmp = out / (SELECTOR_FILE + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / SELECTOR_FILE)
    print(f"wrote {out / SELECTOR_FILE}: rule {pick['min_score_ratio']}:{pick['stop_confidence']}, "
          f"threshold {pick['selector']['threshold']:.4f}, held-back F1 {pick['selector']['f1']} "
          f"(reader confidence {pick['reader confidence']['f1']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
