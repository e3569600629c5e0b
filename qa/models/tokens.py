"""Tokenisation with the tokenizers library alone, as transformers' fast tokenizers do it, into numpy arrays.

transformers' tokenizer classes wrap this same Rust tokenizer (`backend_tokenizer`); calling it directly
gives the same tokens without importing transformers (tests/models/test_tokens.py compares the two).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """The fast tokenizer of a model folder (its tokenizer.json)."""
    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


def backend(tokenizer) -> Tokenizer:
    """The Rust tokenizer itself, given it or a transformers tokenizer that wraps it."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def count_tokens(tokenizer, text: str) -> int:
    """How many tokens `text` is, without special tokens and without truncation."""
    rust = backend(tokenizer)
    rust.no_truncation()
    return len(rust.encode(text, add_special_tokens=False).ids)


def encode_texts(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Single texts, each truncated to `max_length` tokens, padded to the longest: model inputs."""
    rust = backend(tokenizer)
    rust.no_padding()
    rust.enable_truncation(max_length, strategy="longest_first")
    return pad(rust.encode_batch(texts), rust)


def encode_pairs(tokenizer, firsts: list[str], seconds: list[str], max_length: int,
                 stride: int) -> tuple[list[Encoding], list[int]]:
    """(first, second) pairs cut into windows of `max_length` tokens that truncate only the second text and
    overlap by `stride` tokens; with, per window, the index of its pair."""
    rust = backend(tokenizer)
    rust.no_padding()
    rust.enable_truncation(max_length, stride=stride, strategy="only_second")
    windows, pairs = [], []
    for i, encoding in enumerate(rust.encode_batch(list(zip(firsts, seconds)))):
        for window in (encoding, *encoding.overflowing):
            windows.append(window)
            pairs.append(i)
    return windows, pairs


def pad(encodings: list[Encoding], tokenizer: Tokenizer) -> dict[str, np.ndarray]:
    """input_ids, attention_mask and token_type_ids as int64 arrays, padded on the right to the longest."""
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    width = max((len(e.ids) for e in encodings), default=0)
    out = {"input_ids": np.full((len(encodings), width), pad_id, dtype=np.int64),
           "attention_mask": np.zeros((len(encodings), width), dtype=np.int64),
           "token_type_ids": np.zeros((len(encodings), width), dtype=np.int64)}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        out["input_ids"][row, :n] = e.ids
        out["attention_mask"][row, :n] = 1
        out["token_type_ids"][row, :n] = e.type_ids
    return out
