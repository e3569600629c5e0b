"""A sentence-transformers model of the common shape (BERT, mean pooling, normalisation), run by ONNX Runtime.

Importing sentence-transformers pulls in torch, transformers and scikit-learn: most of a new process's wait
for its first answer (benchmarks/README.md, "Cold start"). The vectors are sentence-transformers' own: the
same tokenisation (texts stripped, truncated to the model's max_seq_length), the same BERT forward pass
(`qa.models.bert_onnx`), the same mean over real tokens and the same L2 normalisation; tests/models/test_mean_pooling.py
compares the two.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa.models.bert_onnx import BertOnnx, is_bert_folder
from qa.models.tokens import encode_texts, load_tokenizer

MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
           "sentence_transformers.models.Normalize"]


def is_mean_pooling_folder(folder: str | Path) -> bool:
    """Whether a local sentence-transformers folder is a transformer, mean pooling and normalisation, nothing else."""
    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return False
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return ([m.get("type") for m in modules] == MODULES and modules[0].get("path", "") == ""
            and modes == {"pooling_mode_mean_tokens"} and not config.get("do_lower_case")
            and is_bert_folder(folder, "hidden"))


class MeanPoolingModel:
    """Unit-length sentence vectors from such a folder; `encode` takes the arguments the embedder passes."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_seq_length = int(config["max_seq_length"])
        self.tokenizer = load_tokenizer(folder)
        self.model = BertOnnx(folder, "hidden")

    def get_sentence_embedding_dimension(self) -> int:
        """Length of each vector."""
        return self.model.width

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True,
               **_: object) -> np.ndarray:
        """float32 vectors, one row per text: the mean of the last hidden states over real tokens, L2-normalised."""
        rows = []
        for at in range(0, len(texts), batch_size):
            batch = encode_texts(self.tokenizer, [t.strip() for t in texts[at:at + batch_size]], self.max_seq_length)
            hidden = self.model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            if normalize_embeddings:
                pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            rows.append(pooled.astype(np.float32))
        width = self.get_sentence_embedding_dimension()
        return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)
