"""One `Settings` object: every default of the project, overridable by `QA_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path

from qa.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything that can be tuned, in one place. Build with `Settings.load(**overrides)`."""

    # Where documents come from and where their index lives.
    corpus: Path = PROJECT_ROOT / "seeds"
    index_dir: Path = PROJECT_ROOT / "embeddings"
    # The index's backend: "local" (SQLite + FAISS in index_dir), or a Milvus URI for pymilvus's MilvusClient:
    # a path ending in .db is a Milvus Lite file, http://host:19530 a Milvus server (README, "Milvus").
    store: str = "local"
    ray_workers: int = 1  # `qa index --ray`: embedding actors (and a local Ray's CPUs)

    # Models: a local folder, the packaged embedder's name, or a hub name.
    embedder_model: str = "all-MiniLM-L6-v2"
    reader_model: str = str(PROJECT_ROOT / "models" / "reader")
    device: str = "cpu"

    # Chunking, in words; chunks follow sentence boundaries.
    chunk_words: int = 150
    chunk_max_words: int = 200
    chunk_overlap_words: int = 30

    # Retrieval.
    retrieval: str = "hybrid"  # "hybrid", "dense" or "bm25"
    top_k: int = 5  # at most this many passages are handed to the reader
    candidates: int = 100  # per ranking, before fusion
    # Weight of the dense score in hybrid fusion (BM25 has the rest), chosen on SQuAD train questions.
    dense_weight: float = 0.45
    # A passage is read only when its fused score is at least this share of the best passage's; 0 reads
    # all top_k. Chosen on SQuAD train questions: 0.5 reads ~3.2 passages instead of 5, recall -0.3 points.
    min_score_ratio: float = 0.5
    index_type: str = "auto"  # "auto", "flat", "hnsw" or "ivf"

    # Reading.
    max_seq_len: int = 384
    doc_stride: int = 128
    max_answer_tokens: int = 30
    reader_batch_size: int = 16
    alternatives: int = 4
    # Below this confidence (a span's odds against no answer) the assistant abstains; None takes the
    # reader's calibrated value, 0 always answers.
    answer_threshold: float | None = None
    # Passages are read best first, and reading stops once a span reaches this confidence; 1 reads them
    # all. Keep it at or above the threshold. Chosen on held-back SQuAD 2.0 articles and SQuAD train
    # questions, where it left F1 as it was (README, "Reading fewer passages").
    stop_confidence: float = 0.8

    # Input limits.
    max_question_chars: int = 1000
    max_file_bytes: int = 20 * 1024 * 1024

    # The chat.
    host: str = "127.0.0.1"
    port: int = 7860

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Defaults, then `QA_<FIELD>` environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"QA_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw, f.type)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        return settings.replace()  # normalises paths

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed and every field checked; paths become absolute."""
        s = dataclasses.replace(self, **changes)
        object.__setattr__(s, "corpus", Path(s.corpus).expanduser().resolve())
        object.__setattr__(s, "index_dir", Path(s.index_dir).expanduser().resolve())
        if not isinstance(s.store, str) or not s.store.strip():
            raise SettingsError(f"store must be local or a Milvus URI, not {s.store!r}")
        if s.store.endswith(".db") and "://" not in s.store:  # a Milvus Lite file: the same one from any folder
            object.__setattr__(s, "store", str(Path(s.store).expanduser().resolve()))
        if s.retrieval not in ("hybrid", "dense", "bm25"):
            raise SettingsError(f"retrieval must be hybrid, dense or bm25, not {s.retrieval!r}")
        if s.index_type not in ("auto", "flat", "hnsw", "ivf"):
            raise SettingsError(f"index_type must be auto, flat, hnsw or ivf, not {s.index_type!r}")
        for name in ("dense_weight", "min_score_ratio", "stop_confidence", "answer_threshold"):
            value = getattr(s, name)
            # nan fails both comparisons, so it is refused too; None is only the threshold's "the reader's own".
            if not (value is None and name == "answer_threshold") and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1):
                raise SettingsError(f"{name} must be between 0 and 1, not {value!r}")
        # Out of range, each of these fails late (a silent abstention, an empty index, a tokenizer error).
        _whole(s, "chunk_words", 1)
        _whole(s, "chunk_max_words", s.chunk_words, low_name="chunk_words")
        _whole(s, "chunk_overlap_words", 0, s.chunk_words - 1, high_name="chunk_words - 1")
        _whole(s, "top_k", 1)
        _whole(s, "ray_workers", 1)
        _whole(s, "candidates", s.top_k, low_name="top_k")
        # A window holds the special tokens, the question and at least 32 tokens of passage (qa.reader); the
        # passage's share must exceed the stride (the tokenizer's rule), so a longer stride leaves the question
        # less room: half the window keeps room for it.
        _whole(s, "max_seq_len", 64)
        _whole(s, "doc_stride", 0, s.max_seq_len // 2, high_name="half of max_seq_len")
        _whole(s, "max_answer_tokens", 1)
        _whole(s, "reader_batch_size", 1)
        _whole(s, "alternatives", 0)
        _whole(s, "max_question_chars", 1)
        _whole(s, "max_file_bytes", 1)
        _whole(s, "port", 1, 65535)
        return s


def _whole(s: Settings, name: str, low: int, high: int | None = None, low_name: str = "",
           high_name: str = "") -> None:
    """Raise SettingsError unless the setting is a whole number from `low` to `high` (named, when they are settings)."""
    value = getattr(s, name)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value and (high is None or value <= high):
        return
    low_text = f"{low_name} ({low})" if low_name else f"{low}"
    high_text = f"{high_name} ({high})" if high_name else f"{high}"
    bounds = f"at least {low_text}" if high is None else f"from {low_text} to {high_text}"
    raise SettingsError(f"{name} must be a whole number {bounds}, not {value!r}")


def _parse(name: str, raw: str, type_name: object) -> object:
    text = str(type_name)
    try:
        if "float" in text:
            return None if raw.lower() in ("", "none") else float(raw)
        if "int" in text:
            return int(raw)
        if "Path" in text:
            return Path(raw)
        return raw
    except ValueError as exc:
        expected = "a number" if "float" in text else "a whole number"
        raise SettingsError(f"QA_{name.upper()}={raw!r} is not valid: give {expected}") from exc
