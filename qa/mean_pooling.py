"""A sentence-transformers model of the common shape (transformer, mean pooling, normalisation), run with
transformers alone.

Importing sentence-transformers pulls in scikit-learn on top of transformers, which the reader loads anyway
(benchmarks/README.md, "Cold start": most of a first answer's wait is transformers' own imports). The vectors are sentence-transformers' own: the same
tokenisation (texts stripped, truncated to the model's max_seq_length), the same mean over real tokens
and the same L2 normalisation (tests/test_mean_pooling.py compares the two).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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
            and modes == {"pooling_mode_mean_tokens"} and not config.get("do_lower_case"))


class MeanPoolingModel:
    """Unit-length sentence vectors from such a folder; `encode` takes the arguments the embedder passes."""

    def __init__(self, folder: str | Path, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder)
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_seq_length = int(config["max_seq_length"])
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
        self.device = device

    def get_sentence_embedding_dimension(self) -> int:
        """Length of each vector."""
        return int(self.model.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True,
               **_: object) -> np.ndarray:
        """float32 vectors, one row per text: the mean of the last hidden states over real tokens, L2-normalised."""
        import torch

        rows = []
        with torch.inference_mode():
            for at in range(0, len(texts), batch_size):
                batch = self.tokenizer([t.strip() for t in texts[at:at + batch_size]], padding=True,
                                       truncation="longest_first", max_length=self.max_seq_length,
                                       return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                if normalize_embeddings:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                rows.append(pooled.float().cpu().numpy())
        width = self.get_sentence_embedding_dimension()
        return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)
