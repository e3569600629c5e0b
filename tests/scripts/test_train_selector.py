"""scripts/train_selector.py: the question mix, cross-fitting that never scores a question with a model that saw
its fold, the reader-confidence ranker, and a run over tiny sets that writes a selector the pipeline takes."""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.answering.evidence import FEATURES
from qa.answering.selector import SELECTOR_FILE, Selector, reader_fingerprint
from qa.eval import metrics as ev
from qa.eval import questions as qs
from qa.eval.splits import READER_THRESHOLD, SQUAD_DEV_ARTICLES, document_part, squad_part

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_selector.py"

spec = importlib.util.spec_from_file_location("train_selector", SCRIPT)
ts = importlib.util.module_from_spec(spec)
sys.modules["train_selector"] = ts
spec.loader.exec_module(ts)

CONFIDENCE = FEATURES.index("confidence_logit")
ARGS = argparse.Namespace(folds=2, trees=20, depth=2, learning_rate=0.1, seed=0)


def row(set_name: str, kind: str, i: int, fold_key: str = "a") -> dict:
    return {"set": set_name, "kind": kind, "id": f"{set_name}-{kind}-{i}", "learn": True, "fold_key": fold_key}


def test_the_mix_takes_each_kind_in_its_share_and_each_set_alike() -> None:
    rows = [row("squad", k, i) for k, n in (("answerable", 70), ("out of corpus", 30), ("answer removed", 30),
                                             ("adversarial", 5)) for i in range(n)]
    rows += [row("cuad", k, i) for k, n in (("answerable", 200), ("answer removed", 50), ("adversarial", 100))
             for i in range(n)]  # policyqa has no questions: the mix is of the sets there are
    preds = [ev.Prediction(qs.Question(r["id"], "?", (), None), "", None, []) for r in rows]
    taken = ts.mixed(rows, preds, seed=0)
    kind_of = {r["id"]: (r["set"], r["kind"]) for r in rows}
    counts: dict = {}
    for p in taken:
        counts[kind_of[p.question.id]] = counts.get(kind_of[p.question.id], 0) + 1
    assert len({p.question.id for p in taken}) == len(taken)  # nothing drawn twice
    # squad's 5 adversarial questions at 5% bound the draw: 100 questions a set.
    assert counts == {("squad", "answerable"): 70, ("squad", "out of corpus"): 10, ("squad", "answer removed"): 15,
                      ("squad", "adversarial"): 5, ("cuad", "answerable"): 57, ("cuad", "answer removed"): 10,
                      ("cuad", "adversarial"): 33}


def test_a_kind_a_set_lacks_gives_its_share_to_the_others() -> None:
    rows = [row("policyqa", "answerable", i) for i in range(40)]
    preds = [ev.Prediction(qs.Question(r["id"], "?", (), None), "", None, []) for r in rows]
    assert len(ts.mixed(rows, preds, seed=0)) == 40
    with pytest.raises(SystemExit, match="no learned questions"):
        ts.mixed([], [], seed=0)


def confidence_rows(fold_key: str, rising: bool, n: int = 200) -> list[dict]:
    """Questions of one candidate each, more often right the surer the reader (rising) or the less sure."""
    rng = np.random.default_rng(len(fold_key))
    out = []
    for i in range(n):
        x = rng.normal(size=len(FEATURES))
        x[CONFIDENCE] = i / n * 8 - 4
        right = rng.random() < 1 / (1 + np.exp(-x[CONFIDENCE] if rising else x[CONFIDENCE]))
        out.append({"x": [x.tolist()], "y": [float(right)], "fold_key": fold_key})
    return out


def test_cross_fitting_scores_each_fold_with_a_model_that_never_saw_it() -> None:
    # Fold 0 is right when the reader is sure, fold 1 when it is unsure: a model fitted on the other fold alone
    # ranks each fold backwards; one that had seen its own fold would not.
    rows = confidence_rows("a", rising=True) + confidence_rows("b", rising=False)
    folds = np.array([0] * 200 + [1] * 200)
    oof = ts.cross_fit(rows, folds, "reader confidence", ARGS)
    first = np.array([p[0] for p in oof[:200]])
    second = np.array([p[0] for p in oof[200:]])
    assert np.all(np.diff(first) < 0) and np.all(np.diff(second) > 0)


def test_the_reader_confidence_ranks_as_the_reader_and_is_a_probability() -> None:
    rows = confidence_rows("a", rising=True)
    x, y = ts.stack(rows)
    model = ts.fit(x, y, "reader confidence", ARGS)
    assert model["model"] == "logistic"
    assert [w for i, w in enumerate(model["weights"]) if i != CONFIDENCE] == [0.0] * (len(FEATURES) - 1)
    p = np.concatenate(ts.probabilities(model, rows))
    assert np.all(np.diff(p) > 0) and p.min() > 0 and p.max() < 1
    trees = ts.fit(x, y, "selector", ARGS)  # fit checks the trees file against scikit-learn itself
    assert trees["model"] == "gradient-boosted trees" and len(trees["trees"]) == ARGS.trees


def test_a_prediction_is_the_likeliest_candidate_or_no_answer() -> None:
    r = {"id": "q", "question": "Who?", "answers": ["Ada"], "source": "a.txt", "texts": ["Bob", "Ada"],
         "sources": ["b.txt", "a.txt"]}
    p = ts.prediction(r, np.array([0.2, 0.7]))
    assert (p.text, p.source, p.score) == ("Ada", "a.txt", 0.7)
    assert ts.prediction({**r, "texts": [], "sources": []}, np.array([])).text == ""


# ---- a run over tiny sets --------------------------------------------------------------------------------------

CLAUSE = ("This Supply Agreement is made on the 3rd day of March 2019 between Acme Parts Ltd. and Beta Tools Inc. "
          "The initial term is twelve (12) months, and it renews for one year unless either party gives ninety days "
          "notice. This Agreement is governed by the laws of the State of Kansas.")
POLICY = ("We collect your email address and phone number when you register. We share usage data with advertising "
          "partners. You may delete your account at any time by writing to support@example.com.")


def paragraph(title: str, answerable: bool = True) -> dict:
    context = f"{title.replace('_', ' ')} was studied by Ada Lovelace in the year 1843 at the University of London."
    qas = [{"id": f"{title}-who", "question": f"Who studied {title.replace('_', ' ')}?", "is_impossible": False,
            "answers": [{"text": "Ada Lovelace", "answer_start": context.index("Ada Lovelace")}]},
           {"id": f"{title}-when", "question": f"In which year was {title.replace('_', ' ')} studied?",
            "is_impossible": False, "answers": [{"text": "1843", "answer_start": context.index("1843")}]}]
    if not answerable:
        qas.append({"id": f"{title}-no", "question": f"Who banned {title.replace('_', ' ')}?", "is_impossible": True,
                    "answers": []})
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def names(part: str, n: int) -> list[str]:
    return [f for f in (f"doc-{i}.txt" for i in range(100)) if document_part(f) == part][:n]


@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    squad = tmp_path / "squad"
    squad.mkdir()
    clean = sorted(t for t in SQUAD_DEV_ARTICLES if squad_part(t) == "clean")[:3]
    v1 = [paragraph(t) for t in clean]
    v2 = [paragraph(t, answerable=False) for t in clean + sorted(READER_THRESHOLD)]
    for name, articles in (("dev-v1.1.json.gz", v1), ("dev-v2.0.json.gz", v2),
                           ("train-v1.1.json.gz", [paragraph("Lighthouse"), paragraph("Bakery")])):
        with gzip.open(squad / name, "wt", encoding="utf-8") as f:
            json.dump({"version": "test", "data": articles}, f)
    realdocs = tmp_path / "realdocs"
    for name, text, asked in (("cuad", CLAUSE, [("Which state's law governs the agreement?", "the State of Kansas"),
                                                ("Who insures the goods?", None)]),
                              ("policyqa", POLICY, [("What is collected when you register?",
                                                     "your email address and phone number"),
                                                    ("Who gets usage data?", "advertising partners")])):
        (realdocs / name / "corpus").mkdir(parents=True)
        rows = []
        for doc in names("train", 3) + names("report", 1):
            (realdocs / name / "corpus" / doc).write_text(text, encoding="utf-8")
            rows += [{"id": f"{doc}-{i}", "question": q, "answers": [a] if a else [], "source": doc if a else None,
                      "doc": doc} for i, (q, a) in enumerate(asked)]
        file = "factoid.jsonl" if name == "cuad" else "questions.jsonl"
        (realdocs / name / file).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return squad, realdocs


def test_a_run_over_tiny_sets_writes_a_selector_for_its_reader(tmp_path: Path, data: tuple[Path, Path],
                                                                trained_reader_model: str) -> None:
    squad, realdocs = data
    out, work = tmp_path / "selector", tmp_path / "work"
    command = [sys.executable, str(SCRIPT), "--reader", trained_reader_model, "--squad-dir", str(squad),
               "--realdocs", str(realdocs), "--workdir", str(work), "--out", str(out), "--out-of-corpus", "2",
               "--folds", "2", "--trees", "10"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    model = json.loads((out / SELECTOR_FILE).read_text())
    assert model["reader"]["sha256"] == reader_fingerprint(trained_reader_model)
    assert model["ranker"] in ("selector", "reader confidence")
    assert model["model"] == ("gradient-boosted trees" if model["ranker"] == "selector" else "logistic")
    figures = model["training"]["figures"]
    assert set(figures) == {"selector", "reader confidence"}
    for ranker in figures.values():
        assert all(ranker[name]["n"] > 0 for name in ts.REPORTED)
    counts = model["training"]["questions"]
    assert counts["squad"]["out of corpus"] == 2 and counts["cuad"]["adversarial"] == 3  # the train part's docs
    assert counts["cuad-report"]["answerable"] == 1  # the report part's document: reported, never learned
    selector = Selector(out / SELECTOR_FILE, trained_reader_model)
    selector.warm_up()  # the file it wrote is one the pipeline takes
    assert selector.threshold == model["threshold"]
    # The reading is cached by reader: a second run reads nothing and writes the same selector.
    cache = work / "cache" / reader_fingerprint(trained_reader_model)[:12]
    assert {p.name for p in cache.glob("*.jsonl.gz")} >= {"squad.jsonl.gz", "cuad.jsonl.gz", "seeds.jsonl.gz"}
    again = subprocess.run(command[:command.index("--out") + 1] + [str(tmp_path / "again")] + command[command.index("--out") + 2:],
                           capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((tmp_path / "again" / SELECTOR_FILE).read_text())
    for document in (model, second):
        document["training"].pop("seconds")
        document["training"].pop("command")
    assert second == model
