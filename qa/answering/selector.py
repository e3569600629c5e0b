"""The answer selector: the probability that each candidate answer is right, from its evidence.

A model over `qa.answering.evidence.FEATURES`, fitted by `scripts/train_selector.py` on the bundled reader's
candidates, end to end, and stored as JSON beside its model card (`models/selector/`), read here with numpy
alone: gradient-boosted trees (each a list of nodes), or a logistic model (a weight per feature; with one weight,
on `confidence_logit`, it is the reader's own confidence recalibrated). It ranks the candidates across passages and
decides abstention with one calibrated number.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ModelError
from qa.answering.evidence import FEATURE_VERSION, FEATURES, Candidate, features

SELECTOR_FILE = "selector.json"
FORMAT = "qa-selector"
REBUILD = "retrain it with `python scripts/train_selector.py` (scripts/README.md)"


class SelectorError(ModelError):
    """A selector file that cannot serve: missing, damaged, of another feature version or for another reader."""


def reader_fingerprint(reader: str) -> str:
    """What identifies a reader's weights: the sha256 of its weight files, or its name where it is no folder."""
    folder = Path(reader).expanduser()
    if not folder.is_dir():
        return f"name:{reader}"
    digest = hashlib.sha256()
    for path in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Trees:
    """Boosted regression trees as flat node arrays; a node whose `left` is -1 is a leaf holding `value`."""

    baseline: float  # the log-odds before any tree
    feature: np.ndarray  # (trees, nodes): the feature a node splits on
    threshold: np.ndarray  # ... and where: a value at or below it goes left
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int  # the deepest leaf's depth

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row of `x`."""
        rows = np.arange(len(x))[:, None]
        trees = np.arange(self.feature.shape[0])[None, :]
        node = np.zeros((len(x), self.feature.shape[0]), dtype=np.int64)
        for _ in range(self.depth):
            inner = self.left[trees, node] >= 0
            goes_left = x[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            node = np.where(inner, np.where(goes_left, self.left[trees, node], self.right[trees, node]), node)
        z = self.baseline + self.value[trees, node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class Logistic:
    """sigmoid(bias + weights · features)."""

    bias: float
    weights: np.ndarray

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row of `x`."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.bias + x @ self.weights, -50, 50)))


def scorer_from_json(model: dict) -> Trees | Logistic:
    """The model a selector file holds: its trees, or its logistic weights."""
    if model.get("model") == "logistic":
        return Logistic(float(model["bias"]), np.asarray(model["weights"], dtype=np.float64))
    return trees_from_json(model)


def trees_from_json(model: dict) -> Trees:
    """The trees of a selector file, padded to one node count so that all are walked at once."""
    trees = model["trees"]
    width = max(len(t["left"]) for t in trees)

    def column(key: str, fill: float, dtype) -> np.ndarray:
        return np.array([t[key] + [fill] * (width - len(t[key])) for t in trees], dtype=dtype)

    return Trees(float(model["baseline"]), column("feature", 0, np.int64), column("threshold", 0.0, np.float64),
                 column("left", -1, np.int64), column("right", -1, np.int64), column("value", 0.0, np.float64),
                 int(model["depth"]))


class Selector:
    """Scores candidates with the fitted model; the file is read on `warm_up`."""

    def __init__(self, path: str | Path, reader: str) -> None:
        self.path = Path(path).expanduser()
        self.reader = reader
        self.threshold = 0.5
        self._model: Trees | Logistic | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Read and check the model file once; SelectorError says what is wrong and how to rebuild it."""
        with self._lock:
            if self._model is not None:
                return
            model = load_model(self.path)
            expected = model["reader"]["sha256"]
            if expected != reader_fingerprint(self.reader):
                raise SelectorError(f"the answer selector at {self.path} was trained for another reader "
                                    f"(weights {expected[:12]}…), not {self.reader}: {REBUILD}, or set "
                                    "QA_SELECTOR_MODEL= (empty) to rank by the reader's own confidence")
            self.threshold = float(model["threshold"])
            self._model = scorer_from_json(model)

    def probabilities(self, question: str, candidates: list[Candidate], passages_read: int) -> np.ndarray:
        """The probability that each candidate is the right answer, in their order."""
        self.warm_up()
        return self._model.probabilities(features(question, candidates, passages_read))


def load_model(path: Path) -> dict:
    """The selector's JSON, checked: its format, its feature version and its trees' shapes."""
    if not path.is_file():
        raise SelectorError(f"no answer selector at {path}: {REBUILD}, or set QA_SELECTOR_MODEL= (empty) to "
                            "rank by the reader's own confidence")
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SelectorError(f"the answer selector at {path} is damaged ({exc}): {REBUILD}") from exc
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise SelectorError(f"{path} is not an answer selector file (no \"format\": \"{FORMAT}\"): {REBUILD}")
    if model.get("feature_version") != FEATURE_VERSION or model.get("features") != list(FEATURES):
        raise SelectorError(f"the answer selector at {path} was trained on features of version "
                            f"{model.get('feature_version')}, and this qa computes version {FEATURE_VERSION}: {REBUILD}")
    try:
        numbers = [float(model["threshold"])]
        if model.get("model") == "logistic":
            numbers += [float(model["bias"]), *map(float, model["weights"])]
            if len(model["weights"]) != len(FEATURES):
                raise ValueError(f"{len(model['weights'])} weights for {len(FEATURES)} features")
        else:
            numbers += _tree_numbers(model)
        fingerprint = model["reader"]["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SelectorError(f"the answer selector at {path} is incomplete or of the wrong shape ({exc}): "
                            f"{REBUILD}") from exc
    if not all(map(math.isfinite, numbers)) or not isinstance(fingerprint, str):
        raise SelectorError(f"the answer selector at {path} has parameters of the wrong shape or value: {REBUILD}")
    return model


def _tree_numbers(model: dict) -> list[float]:
    """The numbers of a trees model, once its trees are checked to fit together."""
    trees = model["trees"]
    if not trees:
        raise ValueError("no trees")
    numbers = [float(model["baseline"]), float(model["depth"])]
    for tree in trees:
        sizes = {len(tree[k]) for k in ("feature", "threshold", "left", "right", "value")}
        numbers += [float(v) for k in ("threshold", "value") for v in tree[k]]
        nodes = [int(v) for k in ("left", "right") for v in tree[k]]
        if len(sizes) != 1 or not all(-1 <= n < len(tree["left"]) for n in nodes) \
                or not all(0 <= int(f) < len(FEATURES) for f in tree["feature"]):
            raise ValueError("a tree's nodes do not fit together")
    return numbers
