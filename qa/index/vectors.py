"""The FAISS vector index: inner-product search over unit vectors, keyed by chunk ids.

Three kinds, one interface:

- ``flat``: exact search. Used while it is fast (below `APPROX_THRESHOLD` vectors).
- ``ivf``: an inverted file (IndexIVFFlat), the automatic choice from the threshold on. Trained when
  it is built, with about 4 * sqrt(n) lists; adds and removes in place afterwards. Once it holds
  `IVF_REBUILD_GROWTH` times the vectors it was built for, `needs_rebuild` says so and the store
  rebuilds it from SQLite, so lists stay the right size (rebuilds are geometric: rare and cheap
  next to embedding the chunks that caused them).
- ``hnsw``: a graph (IndexHNSWFlat), by setting only. FAISS cannot remove from it, so a removed
  vector becomes a tombstone (its id is set to -1, which is saved with the file, and search skips
  it); once tombstones pass `HNSW_MAX_TOMBSTONES` of the graph, `needs_rebuild` says so.

Measured on this 2-core machine (benchmarks/bench_search.py; SQuAD paragraph vectors plus synthetic
filler shaped like them; SQuAD questions as queries; one query at a time):

  vectors   flat      ivf, nprobe 64            hnsw, ef 128
  10k       3.1 ms    0.34 ms, recall@10 0.984  0.25 ms, recall@10 0.997   (all real vectors)
  100k      32 ms     1.1 ms,  recall@10 0.968  0.49 ms, recall@10 0.987
  1M        312 ms    3.5 ms,  recall@10 0.983  0.38 ms, recall@10 0.779 (0.87 at ef 256)

Flat grows linearly (~0.32 ms per 1,000 vectors). HNSW is fastest up to 100k but loses recall at 1M; IVF holds
recall >= 0.95 at every size within the 10 ms budget. Hence flat below 20,000 vectors, IVF from there on.

The index is a derived copy: the store keeps every vector in SQLite and can rebuild any kind from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from qa.atomic import atomic_path
from qa.index.checksum import file_checksum

# Batched queries go through BLAS above this many; the default (20) is per faiss build, so set it.
faiss.cvar.distance_compute_blas_threshold = 20

KINDS = ("flat", "hnsw", "ivf")
# At or above this many vectors "auto" picks APPROX_KIND; it goes back to flat only below half of it,
# so that a corpus hovering around the threshold does not flip between kinds.
APPROX_THRESHOLD = 20_000
APPROX_KIND = "ivf"

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
HNSW_MAX_TOMBSTONES = 0.2  # rebuild once this share of the graph is removed vectors

IVF_MIN_LISTS, IVF_MAX_LISTS = 64, 16384
IVF_TRAIN_PER_LIST = 40  # training vectors per list (FAISS warns below 39)
IVF_NPROBE = 64
IVF_REBUILD_GROWTH = 2.0  # rebuild (new lists) once the index holds twice what it was built for

_LIVE = faiss.IDSelectorRange(0, 2**62)  # chunk keys are < 2**60; tombstones are -1
# Fewer queries than this run on one thread. FAISS's OpenMP team costs more than it saves for one
# query, and on a busy 2-core machine (torch's own threads in the same process) a barrier waiting for
# a descheduled thread stalled single searches by 20-200 ms (benchmarks/README.md).
SINGLE_THREAD_BELOW = 20

Batches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def choose_kind(count: int, setting: str = "auto", current: str | None = None) -> str:
    """The index kind for `count` vectors: the setting, unless it is "auto"."""
    if setting != "auto":
        if setting not in KINDS:
            raise ValueError(f"index_type must be auto, {', '.join(KINDS)}; not {setting!r}")
        return setting
    if current in ("hnsw", "ivf") and count >= APPROX_THRESHOLD // 2:
        return current
    return APPROX_KIND if count >= APPROX_THRESHOLD else "flat"


def ivf_lists(count: int) -> int:
    """How many inverted lists an IVF index over `count` vectors gets: about 4 * sqrt(count), each trainable."""
    lists = max(IVF_MIN_LISTS, 4 * math.sqrt(max(count, 1)))
    return int(max(1, min(IVF_MAX_LISTS, lists, count // IVF_TRAIN_PER_LIST)))


def ivf_built_for(nlist: int) -> int:
    """The index size that `ivf_lists` gives `nlist` lists for (its inverse, up to rounding)."""
    return int(max(IVF_TRAIN_PER_LIST * nlist, (nlist / 4) ** 2))


class VectorIndex:
    """Inner-product search with int64 ids that can be added and removed, over a flat, HNSW or IVF index."""

    def __init__(self, dimension: int, index: faiss.Index | None = None, kind: str | None = None) -> None:
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.kind = kind or _kind_of(self._index)
        self._tombstones = self._count_tombstones()
        self._configure()

    # ---- building --------------------------------------------------------------------------

    @classmethod
    def empty(cls, kind: str, dimension: int, count: int = 0) -> VectorIndex:
        """An empty index of this kind; an IVF index must be trained (`build` does that)."""
        if kind == "flat":
            return cls(dimension, faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), "flat")
        if kind == "hnsw":
            graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            return cls(dimension, faiss.IndexIDMap(graph), "hnsw")
        if kind == "ivf":
            return cls(dimension, _ivf(dimension, ivf_lists(count)), "ivf")
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")

    @classmethod
    def build(cls, kind: str, dimension: int, batches: Batches, count: int) -> VectorIndex:
        """A new index of `kind` over the (ids, vectors) that `batches()` yields; `count` is how many.

        `batches` is called once, or twice for IVF: first for a training sample (the first vectors;
        the store yields them in chunk-key order, which is a hash order, so they are a fair sample),
        then to add everything.
        """
        index = cls.empty(kind, dimension, count)
        if kind == "ivf":
            n_train = min(count, index._index.nlist * IVF_TRAIN_PER_LIST)
            sample, have = [], 0
            for _, vecs in batches():
                sample.append(vecs[: n_train - have])
                have += len(sample[-1])
                if have >= n_train:
                    break
            train = np.ascontiguousarray(np.concatenate(sample) if sample else np.zeros((0, dimension)),
                                         dtype=np.float32)
            if len(train) < index._index.nlist:  # too few to train this many lists: fewer lists
                index = cls._small_ivf(dimension, train)
            else:
                index._index.train(train)
            del sample, train
        for ids, vecs in batches():
            index.add(ids, vecs)
        return index

    @classmethod
    def _small_ivf(cls, dimension: int, train: np.ndarray) -> VectorIndex:
        nlist = max(1, len(train) // IVF_TRAIN_PER_LIST)
        index = _ivf(dimension, nlist)
        if len(train):
            index.train(train)
        return cls(dimension, index, "ivf")

    def _configure(self) -> None:
        if self.kind == "hnsw":
            _inner(self._index).hnsw.efSearch = HNSW_EF_SEARCH
        elif self.kind == "ivf":
            self._index.nprobe = min(IVF_NPROBE, self._index.nlist)

    # ---- reading and writing ---------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._tombstones

    @property
    def params(self) -> dict:
        """The kind and its search parameters, for the manifest."""
        if self.kind == "hnsw":
            hnsw = _inner(self._index).hnsw
            return {"kind": "hnsw", "M": HNSW_M, "ef_search": int(hnsw.efSearch), "tombstones": self._tombstones}
        if self.kind == "ivf":
            return {"kind": "ivf", "nlist": int(self._index.nlist), "nprobe": int(self._index.nprobe)}
        return {"kind": "flat"}

    @property
    def needs_rebuild(self) -> bool:
        """Whether the index should be rebuilt: an HNSW graph holding too many removed vectors, or an IVF
        index holding `IVF_REBUILD_GROWTH` times the vectors its lists were made for."""
        if self.kind == "hnsw":
            return self._tombstones > HNSW_MAX_TOMBSTONES * max(1, self._index.ntotal)
        if self.kind == "ivf":
            return len(self) >= IVF_REBUILD_GROWTH * ivf_built_for(self._index.nlist)
        return False

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given int64 ids."""
        if len(ids):
            if self.kind == "ivf" and not self._index.is_trained:  # built empty: train on what comes first
                self._index.train(np.ascontiguousarray(vectors, dtype=np.float32))
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors with these ids (in HNSW, mark them removed)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        if self.kind == "hnsw":
            id_map = self._id_map()
            hit = np.isin(id_map, ids)
            id_map[hit] = -1  # a view of the index's own id map: the change is saved with it
            self._tombstones += int(hit.sum())
        else:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def search(self, queries: np.ndarray, k: int, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the `k` nearest vectors for each query row; missing places have id -1.

        With `within`, only among the vectors of those ids, searched exactly whatever the kind: a scope is
        searched whole, never approximately (an IVF probe or a graph walk could miss a small scope)."""
        n = len(queries)
        if not len(self) or (within is not None and not len(within)):
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        params = None
        if within is not None:
            within = np.asarray(within, dtype=np.int64)
            k = max(1, min(k, len(within)))
            if self.kind == "hnsw":
                return self._score_within(queries, k, within)
            selector = faiss.IDSelectorBatch(within)
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=self._index.nlist) if self.kind == "ivf"
                      else faiss.SearchParameters(sel=selector))
        else:
            k = max(1, min(k, len(self)))
            if self.kind == "hnsw" and (self._tombstones or k > HNSW_EF_SEARCH):
                ef = max(int(_inner(self._index).hnsw.efSearch), k)
                params = faiss.SearchParametersHNSW(sel=_LIVE if self._tombstones else None, efSearch=ef)
        if len(queries) >= SINGLE_THREAD_BELOW:
            return self._index.search(queries, k, params=params)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._index.search(queries, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def _score_within(self, queries: np.ndarray, k: int, within: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`search` within these ids of an HNSW graph: their stored vectors scored one by one."""
        storage = faiss.downcast_index(_inner(self._index).storage)
        stored = faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * self.dimension).reshape(-1, self.dimension)
        id_map = self._id_map()
        rows = np.flatnonzero(np.isin(id_map, within))  # removed vectors have id -1: never within a scope
        scores = queries @ stored[rows].T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), id_map[rows][order]

    def ids(self) -> np.ndarray:
        """Every live id in the index (for checks and tests)."""
        if self.kind == "ivf":
            invlists = self._index.invlists
            parts = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                     for i in range(self._index.nlist) if invlists.list_size(i)]
            return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        id_map = self._id_map()
        return np.sort(id_map[id_map >= 0])

    def _id_map(self) -> np.ndarray:
        id_map = self._index.id_map
        return faiss.rev_swig_ptr(id_map.data(), id_map.size()) if id_map.size() else np.zeros(0, dtype=np.int64)

    def _count_tombstones(self) -> int:
        return int((self._id_map() < 0).sum()) if self.kind == "hnsw" else 0

    def save(self, path: Path, before_replace: Callable[[str], None] | None = None) -> str:
        """Write the index atomically; returns the file's checksum (`file_checksum`), which `before_replace` is
        given before the file takes its place."""
        with atomic_path(path) as tmp:
            faiss.write_index(self._index, str(tmp))
            checksum = file_checksum(tmp)
            if before_replace:
                before_replace(checksum)
        return checksum

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        """Read an index written by `save`; raises RuntimeError if the file is damaged."""
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise RuntimeError(f"holds {index.d}-dimensional vectors, expected {dimension}")
        return cls(dimension, index)


def _ivf(dimension: int, nlist: int) -> faiss.IndexIVFFlat:
    # The Python wrapper keeps the quantizer alive as long as the index (it holds a reference to it).
    return faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)


def _inner(index: faiss.Index) -> faiss.Index:
    return faiss.downcast_index(index.index)


def _kind_of(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = _inner(index)
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(inner, faiss.IndexFlat):
            return "flat"
    raise RuntimeError(f"unsupported FAISS index {type(index).__name__}")
