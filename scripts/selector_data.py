"""train_selector's questions and candidates: every question set it learns from or reports on, asked through the
real pipeline (`Assistant.candidates`, the passages and spans `ask` weighs), each candidate's features and label
cached in --workdir.

The sets, and what each may be used for (`qa.eval.splits`):
- squad: 1,000 questions (--limit) of the 35 clean SQuAD v1.1 dev articles, end to end over their paragraphs, with 250
  unanswerable v2.0 questions of those articles (adversarial) and SQuAD v1.1 *train* questions, whose answers
  are not in this corpus (out of corpus). Cross-fitted by article: the report figure on the clean articles.
- cuad, policyqa: the `train` part of CUAD's factoid questions and of PolicyQA, each asked of its own document.
- held-back v2.0, seeds, cuad-report, policyqa-report: only reported on, never learned from.
Every answerable question of a learned set also comes back "answer removed": asked again without the passages
that hold its answer.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.answering.evidence import features
from qa.eval import metrics as ev
from qa.eval import questions as qs
from qa.eval.splits import READER_THRESHOLD, fold, in_split
from qa.pipeline import Assistant

KINDS = ("answerable", "out of corpus", "answer removed", "adversarial")


@dataclass
class QuestionSet:
    """Questions asked of one corpus: per document (`doc`) or of the whole corpus."""

    name: str
    corpus: Path
    index_dir: Path
    questions: list[tuple[str, qs.Question]] = field(default_factory=list)  # (kind, question)
    per_document: bool = False
    learn: bool = False  # may train the selector (cross-fitted by `fold_key`)


def fold_key(q: qs.Question) -> str:
    """What a question's fold is cut by: its document, or its SQuAD article."""
    return q.doc or q.category or q.id


def squad_sets(squad: Path, work: Path, limit: int, out_of_corpus: int, seed: int) -> list[QuestionSet]:
    """The clean SQuAD articles end to end (learned from, cross-fitted), and the held-back v2.0 articles."""
    rng = random.Random(seed)
    clean = qs.squad_articles(squad / "dev-v1.1.json.gz")
    clean = [a for a in clean if in_split("report", article=a["title"])]
    by_title = {a["title"]: a for a in qs.squad_articles(squad / "dev-v2.0.json.gz")}
    learn = QuestionSet("squad", work / "squad" / "corpus", work / "squad" / "index", learn=True)
    paragraphs = {}
    for a, article in enumerate(clean):
        s = qs.squad_set([article], lambda *_: True)
        paragraphs |= {f"{a:02d}-{name}": text for name, text in s.paragraphs.items()}
        for q in s.questions:
            learn.questions.append(("answerable", _tagged(q, f"{a:02d}-{q.source}", article["title"])))
        v2 = by_title.get(article["title"])
        for para in (v2 or {"paragraphs": []})["paragraphs"]:
            for item in para["qas"]:
                if item.get("is_impossible"):
                    learn.questions.append(("adversarial", qs.Question(item["id"], item["question"], (), None,
                                                                       category=article["title"])))
    # The mix takes adversarial questions at 5%: a quarter as many as the answerable ones is plenty to learn from.
    kept = set()
    for kind, n in (("answerable", limit), ("adversarial", limit // 4)):
        kept |= {id(x) for x in qs.sample([x for x in learn.questions if x[0] == kind], n, seed)}
    learn.questions = [x for x in learn.questions if id(x) in kept]
    train = [q for q in qs.load_squad(squad / "train-v1.1.json.gz").questions if q.answerable]
    learn.questions += [("out of corpus", qs.Question(f"{q.id}/ooc", q.question, (), None, category=f"ooc-{q.id}"))
                        for q in rng.sample(train, out_of_corpus)]
    qs.write_corpus(paragraphs, learn.corpus)
    held = QuestionSet("held-back v2.0", work / "heldback" / "corpus", work / "heldback" / "index")
    s = qs.squad_set([by_title[t] for t in sorted(READER_THRESHOLD)], lambda *_: True)
    qs.write_corpus(s.paragraphs, held.corpus)
    held.questions = [("answerable" if q.answerable else "adversarial", q) for q in s.questions]
    return [learn, held]


def _tagged(q: qs.Question, source: str, title: str) -> qs.Question:
    return qs.Question(q.id, q.question, q.answers, source, category=title)


def realdoc_sets(realdocs: Path, work: Path, limit: int, seed: int) -> list[QuestionSet]:
    """CUAD's factoid questions and PolicyQA, each asked of its own document: the train part learned from, the
    report part reported on; `limit` questions of each part (a reproducible subset, as `qa eval --limit`)."""
    out = []
    for name, file in (("cuad", "cuad/factoid.jsonl"), ("policyqa", "policyqa/questions.jsonl")):
        questions = qs.load_jsonl(realdocs / file)
        corpus = realdocs / file.split("/")[0] / "corpus"
        for part in ("train", "report"):
            chosen = qs.sample(qs.split_questions(questions, part, realdocs / file), limit, seed)
            out.append(QuestionSet(name if part == "train" else f"{name}-report", corpus, work / f"{name}-index",
                                   [("answerable" if q.answerable else "adversarial", q) for q in chosen],
                                   per_document=True, learn=part == "train"))
    return out


def collect(qset: QuestionSet, reader: str, cache: Path, shared: dict) -> list[dict]:
    """Every question of a set asked through the pipeline once (cached): its candidates' features, texts, reader
    confidences and labels; answerable ones once more without the passages that hold an answer."""
    if cache.is_file():
        return [json.loads(line) for line in gzip.open(cache, "rt", encoding="utf-8")]
    assistant = Assistant(corpus=qset.corpus, index_dir=qset.index_dir, reader_model=reader, selector_model="")
    # One embedder and one reader serve every set: loading them again for each would cost more than reading.
    assistant.embedder = shared.setdefault("embedder", assistant.embedder)
    assistant.reader = shared.setdefault("reader", assistant.reader)
    assistant.warm_up()
    rows = []
    for kind, q in qset.questions:
        scope = [q.doc] if qset.per_document else None
        passages = assistant.passages(q.question, assistant.retrieve(q.question, sources=scope), scope)
        rows.append(_row(assistant, qset, kind, q, passages))
        if kind == "answerable" and qset.learn:  # a set only reported on is reported without them
            holds = (lambda h: h.chunk.source == q.source) if not qset.per_document else \
                (lambda h: any(" ".join(a.split()) in " ".join(h.chunk.text.split()) for a in q.answers))
            kept = [h for h in passages if not holds(h)]
            if kept and len(kept) < len(passages):
                removed = qs.Question(q.id + "/removed", q.question, (), None, doc=q.doc, category=q.category)
                rows.append(_row(assistant, qset, "answer removed", removed, kept))
    tmp = cache.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    tmp.replace(cache)
    return rows


def _row(assistant: Assistant, qset: QuestionSet, kind: str, q: qs.Question, passages: list) -> dict:
    candidates, read = assistant.candidates(q.question, passages)
    x = features(q.question, candidates, read)
    return {"set": qset.name, "kind": kind, "id": q.id, "question": q.question, "answers": list(q.answers),
            "source": q.source, "fold_key": fold_key(q), "learn": qset.learn, "passages_read": read,
            "texts": [c.span.text for c in candidates], "sources": [c.hit.chunk.source for c in candidates],
            "confidence": [c.span.confidence for c in candidates], "x": x.round(6).tolist(),
            "y": [ev.exact_match(c.span.text, q.answers) if q.answers else 0.0 for c in candidates]}


def folds_of(rows: list[dict], k: int) -> np.ndarray:
    """Each learned row's cross-fitting fold (by its article or document); -1 for a row only reported on."""
    return np.array([fold(r["fold_key"], k) if r["learn"] else -1 for r in rows])
