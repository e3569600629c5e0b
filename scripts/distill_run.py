"""Distillation's other stages: the teacher's evaluation, distill.json, models loaded and saved, --time-steps."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from device_parts import default_base
from distill_teacher import distillation_loss, teacher_logits
from reader_card import calibrate, evaluate
from reader_data import questions_of
from reader_features import Features
from reader_loop import train
from script_common import log

from qa.answering.reader import Reader
from qa.eval import metrics as ev
from qa.eval import questions as qs


# ---- evaluation ----------------------------------------------------------------------------------

def evaluate_teacher(args, folder: Path, device: str, calib_articles: list[dict]) -> dict:
    """The teacher as `qa eval --reader-only` reads it: threshold chosen on the held-back articles as for the
    student, then SQuAD v1.1 dev never abstaining and the v2.0 report half at that threshold."""
    reader = Reader(str(folder), device=device, max_seq_len=args.max_seq_len, doc_stride=args.stride,
                    max_answer_tokens=args.max_answer_tokens, batch_size=args.eval_batch)
    chosen = calibrate(reader, qs.sample(questions_of(calib_articles), args.eval_limit), args.eval_batch)
    reader.threshold = chosen["threshold"]
    limit = args.teacher_eval_limit or args.eval_limit
    v1 = qs.sample(qs.load_squad(args.squad_dir / "dev-v1.1.json.gz").questions, limit)
    v2 = qs.sample(qs.load_squad(args.squad_dir / "dev-v2.0.json.gz", split="report").questions, limit)
    scores = {"threshold": chosen["threshold"], "threshold data (held out)": chosen["metrics"]}
    for name, asked, thr in (("SQuAD v1.1 dev, never abstaining (--threshold 0)", v1, 0.0),
                          ("SQuAD v2.0 dev, report half", v2, None)):
        scores[name] = evaluate(reader, asked, args.eval_batch, thr)
        log(f"teacher, {name}: {json.dumps(scores[name])}")
    return scores


# ---- figures ---------------------------------------------------------------------------------------

def write_figures(args, figures: dict) -> None:
    """distill.json into --work and --split-out (the device's $OUT), after every stage: a run stopped by the
    call's limit still returns what it measured."""
    text = json.dumps(figures, indent=2, default=str) + "\n"
    for folder in (args.work, args.split_out):
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / "distill.json.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(folder / "distill.json")


def with_settings(args, **changes) -> argparse.Namespace:
    """A copy of the options with some changed: the teacher trains through reader_loop.train too."""
    return argparse.Namespace(**(vars(args) | changes))


def teacher_settings(args) -> argparse.Namespace:
    return with_settings(args, batch_size=args.teacher_batch_size, lr=args.teacher_lr, epochs=args.teacher_epochs,
                         warmup=args.teacher_warmup, max_steps=args.teacher_max_steps or args.max_steps)


def load_teacher(path: Path, device: str):
    """The teacher with a fresh QA head (seeded), in fp32 on the device."""
    import torch
    from transformers import AutoModelForQuestionAnswering

    return AutoModelForQuestionAnswering.from_pretrained(str(path), dtype=torch.float32).to(device)


def save_model(model, tokenizer, folder: Path) -> None:
    """fp16 weights and the tokenizer, so that qa.answering.reader.Reader can read the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.float()


# ---- timing ------------------------------------------------------------------------------------------

def step_rate(model, feats: Features, args, device: str, steps: int, loss_fn=None) -> float:
    """Training windows per second over `steps` steps, after two warm-up steps (reader_loop.train's loop)."""
    warm = train(model, feats, with_settings(args, max_steps=2, epochs=1e6), device, loss_fn)
    full = train(model, feats, with_settings(args, max_steps=2 + steps, epochs=1e6), device, loss_fn)
    return steps * args.batch_size / max(1e-9, full["train_seconds"] - warm["train_seconds"])


def eval_rate(folder: Path, args, device: str, n: int) -> float:
    """Questions per second of a reader folder on `n` SQuAD v1.1 dev questions, never abstaining."""
    reader = Reader(str(folder), device=device, max_seq_len=args.max_seq_len, doc_stride=args.stride,
                    max_answer_tokens=args.max_answer_tokens, batch_size=args.eval_batch)
    questions = qs.sample(qs.load_squad(args.squad_dir / "dev-v1.1.json.gz").questions, n)
    reader.warm_up()
    t = time.perf_counter()
    ev.run_reader_only(reader, questions, 0.0, batch=args.eval_batch)
    return len(questions) / (time.perf_counter() - t)


def time_steps(args, device: str, s_tok, t_tok, s_feats, t_feats, maps, data_seconds: tuple[float, float]) -> dict:
    """Measured rates of each stage on this sample, and the full run they project (--full-windows windows).

    `data_seconds`: loading the examples (the whole data, whatever the sample) and windowing the sample."""
    import torch
    from transformers import AutoModelForQuestionAnswering

    steps = args.time_steps
    teacher = load_teacher(args.teacher, device)
    t_args = teacher_settings(args)
    load_seconds, window_seconds = data_seconds  # the sample was windowed by one process (see main)
    rates = {"windowing windows/s per worker (both tokenizers)": len(s_feats) / max(1e-9, window_seconds),
             "teacher training windows/s": step_rate(teacher, t_feats, t_args, device, steps)}
    t = time.perf_counter()
    targets = teacher_logits(teacher, t_feats, *maps, s_feats.input_ids.shape[1], device, args.infer_batch)
    rates["teacher inference windows/s"] = len(t_feats) / (time.perf_counter() - t)
    save_model(teacher, t_tok, args.work / "timing-teacher")
    del teacher
    student = AutoModelForQuestionAnswering.from_pretrained(args.base or default_base(), dtype=torch.float32)
    student = student.to(device)
    on_device = {k: torch.from_numpy(targets[k]).to(device) for k in ("start", "end")}
    rates["student training windows/s"] = step_rate(student, s_feats, args, device, steps,
                                                    distillation_loss(on_device, args.alpha, args.temperature))
    save_model(student, s_tok, args.work / "timing-student")
    del student
    for name in ("teacher", "student"):
        rates[f"{name} evaluation questions/s"] = eval_rate(args.work / f"timing-{name}", args, device,
                                                            args.timing_questions)
    n = args.full_windows
    dev_questions = 10_570 * 2 + 7_520 + 1_250  # v1.1 twice (never abstaining, at the threshold), v2 half, held out
    projected = {
        "data: loading the examples": load_seconds,
        "data: windows for both tokenizers": n / (rates["windowing windows/s per worker (both tokenizers)"]
                                                   * max(1, args.full_workers)),
        "teacher training": n * args.teacher_epochs / rates["teacher training windows/s"],
        "teacher logits": n / rates["teacher inference windows/s"],
        "student training": n * args.epochs / rates["student training windows/s"],
        "student threshold and evaluation": dev_questions / rates["student evaluation questions/s"],
        "teacher threshold and evaluation": (10_570 + 7_520 + 1_250) / rates["teacher evaluation questions/s"],
    }
    projected["total"] = sum(projected.values())
    result = {"device": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
              "sample windows": len(s_feats), "timed steps": steps, "rates": rates,
              "projected seconds for the full run": {k: round(v, 1) for k, v in projected.items()},
              "full windows": n, "teacher epochs": args.teacher_epochs, "student epochs": args.epochs}
    for k, v in result["projected seconds for the full run"].items():
        log(f"projected {k}: {v} s")
    return result
