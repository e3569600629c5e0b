"""The FAISS vector index: inner-product search over unit vectors, keyed by chunk ids."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from qa.atomic import atomic_path

# Batched queries go through BLAS above this many; the default (20) is per faiss build, so set it.
faiss.cvar.distance_compute_blas_threshold = 20


class VectorIndex:
    """Exact inner-product search with ids that can be added and removed."""

    kind = "flat"

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given int64 ids."""
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors with these ids."""
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the `k` nearest vectors for each query row; missing places have id -1."""
        k = max(1, min(k, len(self))) if len(self) else 1
        if not len(self):
            n = len(queries)
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, path: Path) -> None:
        """Write the index atomically."""
        with atomic_path(path) as tmp:
            faiss.write_index(self._index, str(tmp))

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        """Read an index written by `save`; raises RuntimeError if the file is damaged."""
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise RuntimeError(f"holds {index.d}-dimensional vectors, expected {dimension}")
        return cls(dimension, index)
