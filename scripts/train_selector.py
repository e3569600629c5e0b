"""Train the answer selector (`qa.answering.selector`) on candidates the reader never trained on, cross-fitted, and
ship it only if it beats the reader's own confidence on every set reported on.

The questions and their candidates come from `selector_data` (read its docstring): clean SQuAD v1.1 dev articles
end to end, and the train parts of CUAD's factoid questions and of PolicyQA, each asked of its own document; with
out-of-corpus, answer-removed and adversarial questions. Two rankers are fitted the same way:
- "selector": gradient-boosted trees over every feature (`qa.answering.evidence.FEATURES`);
- "reader confidence": a logistic map of the reader's confidence alone (`confidence_logit`), which ranks as the
  reader does and makes its score a probability.
Each is cross-fitted (--folds, by article or document): every learned question gets a probability from a model that
never saw its article or document. Its threshold is the F1-best on those out-of-fold probabilities over the
realistic mix (`MIX`). The figures on the clean SQuAD articles are out of fold; the other sets reported on (held-back
v2.0 articles, seeds, the report parts of CUAD and PolicyQA) are never learned from and are scored by the model
fitted on every fold. The selector is written to --out only if, on every set reported on, its AURC is lower and
its F1 at its threshold at least as high as the reader confidence's; else the reader confidence's map is written.

    .venv/bin/python scripts/train_selector.py --workdir ~/selector   # 17 minutes' reading here, cached, once the
                                                                     # CUAD index is built in WORKDIR (2 hours)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from script_common import ROOT, log  # noqa: E402  (first: the repository root on sys.path)
from selector_data import KINDS, QuestionSet, collect, folds_of, realdoc_sets, squad_sets  # noqa: E402

from qa.answering.evidence import FEATURE_VERSION, FEATURES  # noqa: E402
from qa.answering.selector import FORMAT, SELECTOR_FILE, reader_fingerprint, scorer_from_json  # noqa: E402
from qa.eval import metrics as ev  # noqa: E402
from qa.eval import questions as qs  # noqa: E402

# The realistic mix the threshold is chosen on: each learned set weighs the same, and within it the kinds of
# question take these shares (a user's question is usually answerable; CUAD's factoid questions are unanswerable
# in a third of its contracts, and that is kept as it is).
MIX = {"squad": {"answerable": 0.7, "out of corpus": 0.1, "answer removed": 0.15, "adversarial": 0.05},
       "cuad": {"answerable": 0.57, "answer removed": 0.1, "adversarial": 0.33},
       "policyqa": {"answerable": 0.85, "answer removed": 0.15}}
REPORTED = ("squad", "held-back v2.0", "seeds", "cuad-report", "policyqa-report")
CONFIDENCE = FEATURES.index("confidence_logit")


def fit(x: np.ndarray, y: np.ndarray, ranker: str, args: argparse.Namespace) -> dict:
    """A ranker's model as the selector file stores it: boosted trees, or a logistic map of the confidence."""
    if ranker == "reader confidence":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1e4).fit(x[:, [CONFIDENCE]], y)
        weights = np.zeros(len(FEATURES))
        weights[CONFIDENCE] = float(clf.coef_[0, 0])
        return {"model": "logistic", "bias": float(clf.intercept_[0]), "weights": weights.tolist()}
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(max_iter=args.trees, max_depth=args.depth, learning_rate=args.learning_rate,
                                         early_stopping=False, random_state=args.seed).fit(x, y)
    trees = []
    for (predictor,) in clf._predictors:  # one tree an iteration for two classes
        nodes, leaf = predictor.nodes, predictor.nodes["is_leaf"].astype(bool)
        trees.append({"feature": nodes["feature_idx"].astype(int).tolist(),
                      "threshold": nodes["num_threshold"].astype(float).tolist(),
                      "left": np.where(leaf, -1, nodes["left"].astype(np.int64)).tolist(),
                      "right": np.where(leaf, -1, nodes["right"].astype(np.int64)).tolist(),
                      "value": nodes["value"].astype(float).tolist()})
    model = {"model": "gradient-boosted trees", "baseline": float(np.ravel(clf._baseline_prediction)[0]),
             "depth": int(max(p.nodes["depth"].max() for (p,) in clf._predictors)), "trees": trees}
    # The file is read by qa.answering.selector alone: check that it gives what scikit-learn gives.
    assert np.allclose(scorer_from_json(model).probabilities(x[:2000]), clf.predict_proba(x[:2000])[:, 1], atol=1e-9)
    return model


def stack(rows: list[dict], ranker: str = "selector") -> tuple[np.ndarray, np.ndarray]:
    """The features and labels a ranker is fitted on: every candidate for the trees; for the reader's confidence
    each question's likeliest candidate alone, since its map only calibrates and `score` is the probability that
    *the answer* is right (every candidate would pull it towards the many wrong spans ranked below)."""
    xs, ys = [], []
    for r in rows:
        x, y = np.asarray(r["x"], dtype=np.float64).reshape(-1, len(FEATURES)), np.asarray(r["y"], dtype=np.float64)
        if ranker == "reader confidence" and len(y):
            best = int(np.argmax(x[:, CONFIDENCE]))
            x, y = x[best:best + 1], y[best:best + 1]
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def probabilities(model: dict, rows: list[dict]) -> list[np.ndarray]:
    """Each question's candidates' probabilities under a model."""
    scorer = scorer_from_json(model)
    return [scorer.probabilities(np.asarray(r["x"], dtype=np.float64).reshape(-1, len(FEATURES))) for r in rows]


def cross_fit(rows: list[dict], folds: np.ndarray, ranker: str, args) -> list[np.ndarray]:
    """Out-of-fold probabilities of the learned questions: each from a model fitted without its fold."""
    out: list[np.ndarray | None] = [None] * len(rows)
    for f in range(args.folds):
        x, y = stack([r for r, k in zip(rows, folds) if k != f], ranker)
        model = fit(x, y, ranker, args)
        held = [i for i, k in enumerate(folds) if k == f]
        for i, p in zip(held, probabilities(model, [rows[i] for i in held])):
            out[i] = p
    return out


def prediction(row: dict, probs: np.ndarray) -> ev.Prediction:
    """A question's never-abstaining prediction: its likeliest candidate, with that probability."""
    q = qs.Question(row["id"], row["question"], tuple(row["answers"]), row["source"])
    if not len(probs):
        return ev.Prediction(q, "", None, [], None, "")
    best = int(np.argmax(probs))
    return ev.Prediction(q, row["texts"][best], row["sources"][best], [], float(probs[best]), row["texts"][best])


def mixed(rows: list[dict], preds: list[ev.Prediction], seed: int) -> list[ev.Prediction]:
    """The learned questions drawn in the proportions of `MIX`, each set the same number of questions; a kind a set
    lacks gives its share to the kinds it has."""
    rng, groups = random.Random(seed), {}
    for r, p in zip(rows, preds):
        groups.setdefault((r["set"], r["kind"]), []).append(p)
    shares = {}
    for s, kinds in MIX.items():
        had = {k: share for k, share in kinds.items() if share and groups.get((s, k))}
        if had:
            shares[s] = {k: share / sum(had.values()) for k, share in had.items()}
    if not shares:
        raise SystemExit("no learned questions to draw the mix from")
    per_set = min(len(groups[(s, k)]) / share for s, kinds in shares.items() for k, share in kinds.items())
    return [p for s, kinds in shares.items() for k, share in kinds.items()
            for p in rng.sample(groups[(s, k)], int(per_set * share + 1e-9))]


def judge(preds: list[ev.Prediction], threshold: float) -> dict:
    """F1 and the rest at the threshold, with AURC, coverage at 90% and the calibration error."""
    metrics = ev.score(ev.at_threshold(preds, threshold), reader_only=True)
    return {k: metrics[k] for k in ("n", "exact_match", "f1", "has_answer_f1", "no_answer_accuracy", "aurc",
                                    "coverage_at_90", "ece")}


def report_rows(rows: list[dict], name: str) -> list[dict]:
    """The questions a set is reported on: clean SQuAD's answerable sample, the other sets as they are asked;
    answer-removed copies left out."""
    kind = ("answerable",) if name == "squad" else ("answerable", "adversarial")
    return [r for r in rows if r["set"] == name and r["kind"] in kind]


def main() -> int:
    """Read every set's questions, cross-fit both rankers, report them, and write the one that wins."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    p.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad")
    p.add_argument("--realdocs", type=Path, default=ROOT.parent / "shared" / "data" / "realdocs")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/qa-train-selector"), help="corpora, indexes, cache")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "selector")
    p.add_argument("--limit", type=int, default=1000, help="answerable clean SQuAD questions")
    p.add_argument("--realdocs-limit", type=int, default=600, help="questions of each part of CUAD and PolicyQA")
    p.add_argument("--out-of-corpus", type=int, default=300, help="SQuAD train questions asked of the clean corpus")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv := sys.argv[1:])
    started = time.time()
    cache = args.workdir / "cache" / reader_fingerprint(args.reader)[:12]
    cache.mkdir(parents=True, exist_ok=True)
    seeds = QuestionSet("seeds", ROOT / "seeds", args.workdir / "seeds-index")
    seeds.questions = [("answerable" if q.answerable else "adversarial", q)
                       for q in qs.load_jsonl(ROOT / "eval" / "seeds.jsonl")]
    sets = [*squad_sets(args.squad_dir, args.workdir, args.limit, args.out_of_corpus, args.seed),
            *realdoc_sets(args.realdocs, args.workdir, args.realdocs_limit, args.seed), seeds]
    rows, shared = [], {}
    for qset in sets:
        rows += collect(qset, args.reader, cache / f"{qset.name}.jsonl.gz", shared)
        log(f"{qset.name}: {sum(r['set'] == qset.name for r in rows)} questions ({time.time() - started:.0f} s)")
    learned = [r for r in rows if r["learn"]]
    folds = folds_of(learned, args.folds)
    results = {}
    for ranker in ("reader confidence", "selector"):
        oof = cross_fit(learned, folds, ranker, args)
        preds = [prediction(r, pr) for r, pr in zip(learned, oof)]
        threshold = ev.choose_threshold(mixed(learned, preds, args.seed))
        model = fit(*stack(learned, ranker), ranker, args)
        figures = {"learned mix (out of fold)": judge(mixed(learned, preds, args.seed), threshold)}
        by_id = {r["id"]: pr for r, pr in zip(learned, preds)}
        for name in REPORTED:
            chosen = report_rows(rows, name)
            final = [prediction(r, pr) for r, pr in zip(chosen, probabilities(model, chosen))]
            figures[name] = judge([by_id.get(r["id"], f) if r["learn"] else f for r, f in zip(chosen, final)],
                                  threshold)
        results[ranker] = {"threshold": threshold, "model": model, "figures": figures}
        log(f"{ranker}: threshold {threshold:.4f}\n" + json.dumps(figures, indent=1))
    sel, base = (results[k]["figures"] for k in ("selector", "reader confidence"))
    wins = {name: sel[name]["aurc"] < base[name]["aurc"] and sel[name]["f1"] >= base[name]["f1"] for name in REPORTED}
    shipped = "selector" if all(wins.values()) else "reader confidence"
    log(f"selector wins on {[n for n, w in wins.items() if w]}, not on {[n for n, w in wins.items() if not w]}: "
        f"shipping the {shipped}")
    pick = results[shipped]
    counts = {s: {k: sum(r["set"] == s and r["kind"] == k for r in rows) for k in KINDS} for s in {r["set"] for r in rows}}
    document = {"format": FORMAT, "feature_version": FEATURE_VERSION, "features": list(FEATURES), **pick["model"],
                "ranker": shipped, "threshold": pick["threshold"],
                "reader": {"sha256": reader_fingerprint(args.reader), "path": "models/reader"},
                "training": {"command": "python scripts/train_selector.py " + " ".join(argv), "seed": args.seed,
                             "folds": args.folds, "mix": MIX, "questions": counts, "wins": wins,
                             "seconds": round(time.time() - started),
                             "figures": {k: {"threshold": v["threshold"], **v["figures"]} for k, v in results.items()}}}
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / (SELECTOR_FILE + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out / SELECTOR_FILE)
    log(f"wrote {args.out / SELECTOR_FILE}: the {shipped}, threshold {pick['threshold']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
