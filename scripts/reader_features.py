"""train_reader's windows: Features, featurisation (in one process or forked workers), and their helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from reader_data import Example

from qa.answering.reader import MIN_CONTEXT_TOKENS, answer_positions, featurize


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
    """Windows of every example through qa.answering.reader.featurize, labelled through qa.answering.reader.answer_positions."""
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
