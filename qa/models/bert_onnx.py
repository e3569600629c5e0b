"""BERT encoders run by ONNX Runtime, without torch or transformers on the query path.

Importing torch takes ~2.5 s here and transformers' model code ~2 s more on first use, most of a new
process's wait for its first answer (benchmarks/README.md, "Cold start"). ONNX Runtime imports in
~0.3 s. The graph is written here from the model's config and its safetensors weights, not exported
from torch, so neither is needed; it is built once per weights file (that needs the `onnx` package,
~1.7 s to import) and cached. tests/models/test_bert_onnx.py checks its outputs against transformers'.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from qa.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

GRAPH_VERSION = 1
HEADS = ("hidden", "qa")  # last hidden states, or start and end logits (a QA head on top)
OPSET = 17  # LayerNormalization


def is_bert_folder(folder: str | Path, head: str) -> bool:
    """Whether a model folder holds a plain BERT (absolute positions, GELU) in safetensors, with that head."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    wanted = "ForQuestionAnswering" if head == "qa" else ""
    architectures = config.get("architectures") or [""]
    return (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
            and all(a.endswith(wanted) if wanted else not a.endswith("ForQuestionAnswering") for a in architectures))


def graph_path(folder: Path, head: str, cache: Path) -> Path:
    """Where the graph of these weights is cached: keyed by the weights file's path, size and time."""
    weights = (folder / "model.safetensors").resolve()
    stat = weights.stat()
    key = f"{weights}|{stat.st_size}|{stat.st_mtime_ns}|{head}|{GRAPH_VERSION}"
    return cache / f"bert-{head}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.onnx"


class BertOnnx:
    """One BERT model in an ONNX Runtime session: `__call__` maps token arrays to hidden states or logits
    (`width` numbers a token)."""

    def __init__(self, folder: str | Path, head: str, cache: Path | None = None) -> None:
        import onnxruntime as ort

        from qa.config import cache_dir

        folder = Path(folder)
        path = graph_path(folder, head, cache or cache_dir() / "onnx")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle workers would otherwise spin for a while after each run, and the embedder's then steal the
        # cores from the reader's, which runs right after it (benchmarks/README.md, "Cold start").
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(model: str | bytes):
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        self._session = None
        if path.is_file():
            try:
                self._session = session(str(path))
            except Exception as exc:  # onnxruntime's own error types: a damaged file is rebuilt below
                log.warning("rebuilding the damaged model graph %s (%s)", path, exc)
        if self._session is None:
            data = build_graph_of(folder, head)
            try:
                atomic_write_bytes(path, data)
            except OSError as exc:  # a read-only cache costs this build on every start, nothing more
                log.warning("cannot cache the model graph at %s: %s", path, exc)
            self._session = session(data)
        self.width = int(self._session.get_outputs()[0].shape[-1])  # the hidden size, or 2 for "qa"

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 token_type_ids: np.ndarray | None = None) -> np.ndarray:
        """float32 [batch, tokens, hidden] for "hidden", [batch, tokens, 2] (start, end) for "qa"."""
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64),
                "token_type_ids": token_type_ids.astype(np.int64)}
        return self._session.run(None, feed)[0]


def build_graph_of(folder: Path, head: str) -> bytes:
    """The serialised graph of a BERT folder's config and weights."""
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = {k.removeprefix("bert."): v.astype(np.float32) for k, v in load_file(folder / "model.safetensors").items()}
    return build_graph(weights, config, head)


def build_graph(weights: dict[str, np.ndarray], config: dict, head: str) -> bytes:
    """The serialised ONNX model of BERT's forward pass (as transformers' BertModel computes it, in eval mode)."""
    from onnx import TensorProto, helper, numpy_helper

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    nodes, inits = [], []
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    count = iter(range(10**9))

    def const(value, name: str | None = None) -> str:
        name = name or f"c{next(count)}"
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, *inputs: str, **attrs) -> str:
        out = f"t{next(count)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(x: str, name: str) -> str:
        return op("Add", op("MatMul", x, const(weights[name + ".weight"].T.copy(), name + ".w")),
                  const(weights[name + ".bias"], name + ".b"))

    def norm(x: str, name: str) -> str:
        return op("LayerNormalization", x, const(weights[name + ".weight"], name + ".g"),
                  const(weights[name + ".bias"], name + ".b"), axis=-1, epsilon=eps)

    length = op("Gather", op("Shape", "input_ids"), const(np.int64(1)), axis=0)
    positions = op("Range", const(np.int64(0)), length, const(np.int64(1)))
    x = op("Add", op("Add", op("Gather", const(weights["embeddings.word_embeddings.weight"], "word"), "input_ids"),
                     op("Gather", const(weights["embeddings.position_embeddings.weight"], "position"), positions)),
           op("Gather", const(weights["embeddings.token_type_embeddings.weight"], "type"), "token_type_ids"))
    x = norm(x, "embeddings.LayerNorm")
    # Masked keys get a large negative score, as transformers does; exp() of it is exactly 0 in float32.
    keep = op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = op("Unsqueeze", op("Mul", op("Sub", const(np.float32(1)), keep), const(np.float32(-1e9))),
              const(np.array([1, 2], dtype=np.int64)))
    size = hidden // heads
    split, merge = const(np.array([0, 0, heads, size], dtype=np.int64)), const(np.array([0, 0, hidden], dtype=np.int64))
    scale = const(np.float32(1 / np.sqrt(size)))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        q = op("Transpose", op("Reshape", linear(x, p + "attention.self.query"), split), perm=[0, 2, 1, 3])
        k = op("Transpose", op("Reshape", linear(x, p + "attention.self.key"), split), perm=[0, 2, 3, 1])
        v = op("Transpose", op("Reshape", linear(x, p + "attention.self.value"), split), perm=[0, 2, 1, 3])
        scores = op("Softmax", op("Add", op("Mul", op("MatMul", q, k), scale), bias), axis=-1)
        context = op("Reshape", op("Transpose", op("MatMul", scores, v), perm=[0, 2, 1, 3]), merge)
        x = norm(op("Add", linear(context, p + "attention.output.dense"), x), p + "attention.output.LayerNorm")
        up = linear(x, p + "intermediate.dense")
        gelu = op("Mul", op("Mul", up, const(np.float32(0.5))),
                  op("Add", const(np.float32(1)), op("Erf", op("Div", up, const(np.float32(np.sqrt(2)))))))
        x = norm(op("Add", linear(gelu, p + "output.dense"), x), p + "output.LayerNorm")
    out = linear(x, "qa_outputs") if head == "qa" else x
    nodes.append(helper.make_node("Identity", [out], ["output"]))
    tokens = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    width = 2 if head == "qa" else hidden
    result = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "tokens", width])
    graph = helper.make_graph(nodes, f"bert-{head}", tokens, [result], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="qa")
    model.ir_version = 8  # what ONNX Runtime releases of the last years read
    return model.SerializeToString()
