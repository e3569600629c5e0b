"""The teacher's side of distillation: its windows, their alignment onto the student's, its logits, the loss."""

from __future__ import annotations

import math
import os

import numpy as np

from reader_data import Example
from reader_features import Features
from reader_loop import span_loss

from qa.answering.reader import answer_positions, featurize, length_batches


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
                    student_offsets: np.ndarray, max_len: int) -> tuple[Features, np.ndarray, np.ndarray]:
    """The teacher's input for each student window (its question and passage characters), labelled with
    qa.answering.reader.answer_positions, and the start and end maps of align_positions, (n, max_len) each."""
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
    feats = Features(ids, mask, None, starts, ends, np.arange(n, dtype=np.int64))
    return feats, start_map, end_map


_JOB: tuple = ()  # (tokenizer, questions, passages, answers, student offsets, max_len), inherited by forked workers


def _teacher_job(span: tuple[int, int]) -> tuple:
    tokenizer, questions, passages, answers, offsets, max_len = _JOB
    a, b = span
    f, s_map, e_map = teacher_windows(tokenizer, questions[a:b], passages[a:b], answers[a:b], offsets[a:b], max_len)
    return f.input_ids, f.attention_mask, f.start_positions, f.end_positions, s_map, e_map


def build_teacher_windows(tokenizer, student: Features, examples: list[Example], max_len: int, workers: int,
                          chunk: int = 2000) -> tuple[Features, np.ndarray, np.ndarray]:
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
    return Features(ids, mask, None, starts, ends, np.arange(len(ids), dtype=np.int64)), s_map, e_map


def window_examples(sources: dict[str, list[Example]], data: dict, feats: Features) -> list[Example]:
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


def teacher_logits(model, feats: Features, start_map: np.ndarray, end_map: np.ndarray, width: int,
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
    """reader_loop.train's loss hook: (1 - alpha) * gold loss + alpha * the soft start and end losses."""
    def loss(out, start_positions, end_positions, idx):
        cut = out.start_logits.shape[1]  # the batch is cut to its longest window; nothing lands past it
        soft = (soft_loss(out.start_logits, targets["start"][idx, :cut], temperature)
                + soft_loss(out.end_logits, targets["end"][idx, :cut], temperature)) / 2
        return (1 - alpha) * span_loss(out, start_positions, end_positions) + alpha * soft

    return loss
