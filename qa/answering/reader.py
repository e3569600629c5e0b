"""The extractive reader: question/passage windows, start/end logits, the best spans and a no-answer score.

Featurisation (`featurize`, `answer_positions`) is shared by inference and `scripts/train_reader.py`;
decoding the logits into spans is `qa.answering.decoding`'s.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import QuestionError
from qa.answering.decoding import decode_spans
from qa.models.reader import load_qa_model
from qa.models.tokens import backend, count_tokens, encode_pairs, pad
from qa.types import Span

log = logging.getLogger(__name__)

CALIBRATION_FILE = "qa_reader.json"  # written by the training script beside the weights
DEFAULT_THRESHOLD = 0.5
MIN_CONTEXT_TOKENS = 32
# Windows are batched only while padding stays under this share of a batch's tokens: on a CPU a padded
# token costs as much as a real one, and a question's few windows differ in length (benchmarks/README.md).
PADDING_SHARE = 0.1


@dataclass
class Windows:
    """Tokenised (question, passage) windows: model inputs plus the maps back to passage characters."""

    inputs: dict  # input_ids, attention_mask (and token_type_ids), as numpy arrays
    passage: list[int]  # window -> index of its (question, passage) pair
    offsets: list[list[tuple[int, int] | None]]  # window -> token -> (start, end) in the passage, None outside it
    words: list[list[int | None]]  # window -> token -> index of its word in the passage, None outside it


def featurize(tokenizer, questions: list[str], passages: list[str], max_seq_len: int, stride: int) -> Windows:
    """Tokenise pairs into overlapping windows that hold the question and a stretch of the passage."""
    encodings, passage = encode_pairs(tokenizer, questions, passages, max_seq_len, stride)
    offsets, words = [], []
    for e in encodings:
        offsets.append([tuple(o) if s == 1 else None for o, s in zip(e.offsets, e.sequence_ids)])
        words.append([i if s == 1 else None for i, s in zip(e.word_ids, e.sequence_ids)])
    return Windows(inputs=pad(encodings, backend(tokenizer)), passage=passage, offsets=offsets, words=words)


def answer_positions(offsets: list[tuple[int, int] | None], start_char: int, end_char: int) -> tuple[int, int]:
    """Token positions of an answer within one window, or (0, 0), the no-answer position, if it is not all there."""
    tokens = [i for i, o in enumerate(offsets) if o is not None]
    if not tokens or offsets[tokens[0]][0] > start_char or offsets[tokens[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in tokens if offsets[i][1] > start_char)
    end = next(i for i in reversed(tokens) if offsets[i][0] < end_char)
    return (start, end) if start <= end else (0, 0)


class Reader:
    """Any extractive QA model that AutoModelForQuestionAnswering loads; the model loads on `warm_up`."""

    def __init__(self, model: str, device: str = "cpu", max_seq_len: int = 384, doc_stride: int = 128,
                 max_answer_tokens: int = 30, batch_size: int = 16) -> None:
        self.model_name = model
        self.device = device
        self.max_seq_len = max_seq_len
        self.doc_stride = doc_stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self.calibration = 0.1
        self.threshold = DEFAULT_THRESHOLD
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        # A fast tokenizer is one Rust object whose truncation settings change per call: two threads
        # tokenizing at once fail with "Already borrowed" (huggingface/tokenizers#537). The model is shared freely.
        self._tokenizer_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the tokenizer and model once; raises ModelError if they are missing or have no QA head."""
        with self._lock:
            if self._model is not None:
                return
            model, tokenizer = load_qa_model(self.model_name, self.device)
            calib = Path(self.model_name) / CALIBRATION_FILE
            if calib.is_file():
                values = json.loads(calib.read_text(encoding="utf-8"))
                self.calibration = float(values.get("calibration", self.calibration))
                self.threshold = float(values.get("threshold", self.threshold))
            self._tokenizer, self._model = tokenizer, model

    def question_tokens(self, question: str) -> int:
        """How many tokens the question takes in a window."""
        self.warm_up()
        with self._tokenizer_lock:
            return count_tokens(self._tokenizer, question)

    def run(self, question: str, passages: list[str], top_k: int = 5) -> list[Span]:
        """The best answer spans for `question` in `passages`, best first."""
        return self.run_many([(question, passages)], top_k)[0]

    def run_many(self, items: list[tuple[str, list[str]]], top_k: int = 5) -> list[list[Span]]:
        """`run` for several questions, each with its own passages, batched together."""
        self.warm_up()
        # A window holds the question, 3 special tokens and more passage than the stride it steps back by.
        room = self.max_seq_len - 3 - max(MIN_CONTEXT_TOKENS, self.doc_stride + 1)
        for question, passages in items:
            if not question or not question.strip():
                raise QuestionError("the question is empty")
            if not passages:
                raise ValueError("there are no passages to read")
            if (n := self.question_tokens(question)) > room:
                raise QuestionError(f"the question is {n} tokens long; the reader reads at most {room} per window")
        questions = [q for q, passages in items for _ in passages]
        flat = [p for _, passages in items for p in passages]
        with self._tokenizer_lock:
            windows = featurize(self._tokenizer, questions, flat, self.max_seq_len, self.doc_stride)
        start, end = self._logits(windows)
        results, first = [], 0
        for _, passages in items:
            pairs = range(first, first + len(passages))
            rows = [w for w, p in enumerate(windows.passage) if p in pairs]
            sub = Windows(inputs={}, passage=[windows.passage[w] - first for w in rows],
                          offsets=[windows.offsets[w] for w in rows], words=[windows.words[w] for w in rows])
            results.append(decode_spans(start[rows], end[rows], sub, passages, self.max_answer_tokens,
                                        self.calibration, top_k))
            first += len(passages)
        return results

    def _logits(self, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
        n, width = windows.inputs["input_ids"].shape
        start = np.full((n, width), -np.inf, dtype=np.float32)
        end = np.full((n, width), -np.inf, dtype=np.float32)
        lengths = windows.inputs["attention_mask"].sum(axis=1)
        for rows in length_batches(lengths, self.batch_size):
            cut = int(lengths[rows].max())
            logits = self._model(*(windows.inputs[k][rows, :cut] for k in ("input_ids", "attention_mask", "token_type_ids")))
            start[rows, :cut] = logits[..., 0]
            end[rows, :cut] = logits[..., 1]
        return start, end


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Window indices grouped shortest first into batches of at most `batch_size`, each padded by at most
    `PADDING_SHARE` of its tokens."""
    batches: list[list[int]] = []
    for i in np.argsort(lengths, kind="stable"):
        batch = batches[-1] if batches else []
        # Sorted, so the new window is the batch's longest: the padded size is its length times the count.
        if not batch or len(batch) >= batch_size or \
                lengths[i] * (len(batch) + 1) > (1 + PADDING_SHARE) * (lengths[batch].sum() + lengths[i]):
            batches.append(batch := [])
        batch.append(int(i))
    return [np.array(b) for b in batches]
