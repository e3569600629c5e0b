"""qa.eval.splits: the declared split agrees with the data it was made from, and every part is disjoint."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT
from qa.eval import questions as qs
from qa.eval.splits import (READER_THRESHOLD, READER_TRAINED, SQUAD_DEV_ARTICLES, document_part, fold, in_split,
                            report_half, squad_part)

SQUAD = PROJECT_ROOT.parent / "shared" / "data" / "squad"
REALDOCS = PROJECT_ROOT.parent / "shared" / "data" / "realdocs"


def test_the_reader_card_names_the_threshold_articles_declared_here() -> None:
    card = json.loads((PROJECT_ROOT / "models" / "reader" / "qa_reader.json").read_text())
    assert set(card["threshold_data"]["articles"]) == READER_THRESHOLD


def test_parts_of_squad() -> None:
    assert not READER_TRAINED & READER_THRESHOLD and READER_TRAINED | READER_THRESHOLD <= SQUAD_DEV_ARTICLES
    clean = {t for t in SQUAD_DEV_ARTICLES if squad_part(t) == "clean"}
    assert len(SQUAD_DEV_ARTICLES) == 48 and len(clean) == 35
    assert squad_part("Normans") == "threshold" and squad_part("Warsaw") == "reader"
    assert squad_part("Beyonce") == "reader"  # a v1.1 train article
    # The 13 used articles are exactly the v2.0 train half that the hash rule made.
    assert all(not report_half(t) for t in READER_TRAINED | READER_THRESHOLD)


@pytest.mark.skipif(not SQUAD.is_dir(), reason="../shared/data/squad is not here")
def test_the_split_matches_the_squad_files() -> None:
    v1 = [a["title"] for a in json.load(gzip.open(SQUAD / "dev-v1.1.json.gz", "rt"))["data"]]
    v2 = [a["title"] for a in json.load(gzip.open(SQUAD / "dev-v2.0.json.gz", "rt"))["data"]]
    assert set(v1) == SQUAD_DEV_ARTICLES
    assert {t for t in v2 if not report_half(t)} == READER_TRAINED | READER_THRESHOLD
    # `--split report` is the clean articles in v1.1 and the report half in v2.0: one rule for both.
    assert {t for t in v2 if in_split("report", article=t)} == {t for t in v2 if report_half(t)}
    report = qs.load_squad(SQUAD / "dev-v1.1.json.gz", split="report")
    train = qs.load_squad(SQUAD / "dev-v1.1.json.gz", split="train")
    assert len(report.questions) == 8426 and len(train.questions) == 1522 + 622
    assert not {q.id for q in report.questions} & {q.id for q in train.questions}


def test_documents_split_by_a_fixed_hash() -> None:
    assert document_part("a.txt") == document_part("a.txt") in ("train", "report")
    parts = [document_part(f"contract-{i}.txt") for i in range(400)]
    assert 150 < parts.count("report") < 250  # about half
    assert in_split("report", doc="x.txt") != in_split("train", doc="x.txt") and in_split("all", doc="x.txt")
    assert {fold(f"a{i}", 5) for i in range(100)} == set(range(5))


@pytest.mark.skipif(not REALDOCS.is_dir(), reason="../shared/data/realdocs is not here")
def test_jsonl_sets_split_by_their_documents(tmp_path: Path) -> None:
    questions = qs.load_jsonl(REALDOCS / "policyqa" / "questions.jsonl")
    report = qs.split_questions(questions, "report", tmp_path)
    train = qs.split_questions(questions, "train", tmp_path)
    assert len(report) + len(train) == len(questions) and report and train
    assert not {q.doc for q in report} & {q.doc for q in train}
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"question": "Who?", "answers": ["A"], "source": "a.txt"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match='has no "doc"'):
        qs.split_questions(qs.load_jsonl(plain), "report", plain)
