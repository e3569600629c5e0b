"""One `Settings` object: every default of the project, overridable by `QA_*` environment variables."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path

from qa.errors import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent  # the checkout, when qa runs from one; site-packages when installed
# Installed from a wheel, the bundled reader and the sample documents are package data (pyproject.toml maps
# models/reader and seeds/ there); in a checkout they are read where they stand.
BUNDLED_READER = PACKAGE_DIR / "bundled" / "reader"
BUNDLED_SEEDS = PACKAGE_DIR / "bundled" / "seeds"
BUNDLED_SELECTOR = PACKAGE_DIR / "bundled" / "selector"


def in_checkout() -> bool:
    """Whether qa runs from its source checkout (not an installed wheel)."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "seeds").is_dir()


def default_corpus() -> Path:
    """The checkout's seeds/; installed, the same sample documents shipped in the package."""
    return PROJECT_ROOT / "seeds" if in_checkout() else BUNDLED_SEEDS


def default_reader() -> str:
    """The bundled reader: the checkout's models/reader, or its copy in the installed package."""
    return str(PROJECT_ROOT / "models" / "reader" if in_checkout() else BUNDLED_READER)


def default_selector() -> str:
    """The bundled answer selector: the checkout's models/selector, or its copy in the installed package."""
    return str(PROJECT_ROOT / "models" / "selector" if in_checkout() else BUNDLED_SELECTOR)


def cache_dir() -> Path:
    """Where indexes of folders with no --index-dir live: $QA_CACHE_DIR, else $XDG_CACHE_HOME/qa or ~/.cache/qa."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def default_index_dir(corpus: Path) -> Path:
    """The checkout's embeddings/ for its seeds/; for any other folder, its own folder in the cache.

    Never inside the corpus: the folder the user points at is only read.
    """
    if in_checkout() and corpus == (PROJECT_ROOT / "seeds").resolve():
        return PROJECT_ROOT / "embeddings"
    digest = hashlib.sha256(str(corpus).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return cache_dir() / "indexes" / f"{corpus.name or 'root'}-{digest}"


@dataclass(frozen=True)
class Settings:
    """Everything that can be tuned, in one place. Build with `Settings.load(**overrides)`."""

    # Where documents come from and where their index lives; None: the defaults above (README, "Your own folder").
    corpus: Path | None = None
    index_dir: Path | None = None
    # Documents added from the chat: a folder of the index's own, indexed with the corpus (None: index_dir/uploads).
    uploads_dir: Path | None = None
    # The index's backend: "local" (SQLite + FAISS in index_dir), or a Milvus URI for pymilvus's MilvusClient:
    # a path ending in .db is a Milvus Lite file, http://host:19530 a Milvus server (README, "Milvus").
    store: str = "local"
    ray_workers: int = 1  # `qa index --ray`: embedding actors (and a local Ray's CPUs)

    # Models: a local folder, the packaged embedder's name, or a hub name.
    embedder_model: str = "all-MiniLM-L6-v2"
    reader_model: str | None = None  # None: the bundled reader (default_reader)
    # The answer selector, trained for that reader (a folder holding selector.json; None: the bundled one); empty
    # ranks and thresholds the candidates by the reader's own confidence against no answer.
    selector_model: str | None = None
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
    spans_per_passage: int = 20  # the reader's best spans in each passage, the candidates the selector weighs
    alternatives: int = 4
    # Below this probability of being right the assistant abstains; None takes the selector's value (the
    # reader's, without a selector), 0 always answers.
    answer_threshold: float | None = None
    # Passages are read best first, and reading stops once a span reaches this confidence; 1 reads them
    # all. Keep it at or above the threshold. Chosen on held-back SQuAD 2.0 articles and SQuAD train
    # questions, where it left F1 as it was (README, "Reading fewer passages").
    stop_confidence: float = 0.8

    # Input limits.
    max_question_chars: int = 1000
    max_file_bytes: int = 20 * 1024 * 1024
    # Reading a file runs in a worker process within these limits (qa.ingest.bounded); each was chosen from the
    # costs benchmarks/bench_parse.py measures (README, "Limits on reading a file").
    max_unpacked_bytes: int = 64 * 1024 * 1024  # a Word file's XML, unzipped
    max_text_chars: int = 20_000_000  # the text a file gives, before cleaning
    parse_cpu_seconds: int = 60
    parse_memory_bytes: int = 1024 * 1024 * 1024  # address space, beyond the idle worker's

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
        for name in ("corpus", "index_dir", "uploads_dir"):
            value = getattr(s, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise SettingsError(f"{name} must be a folder's path (a str or Path), not {type(value).__name__} "
                                    f"{value!r}")
        object.__setattr__(s, "corpus", Path(s.corpus or default_corpus()).expanduser().resolve())
        object.__setattr__(s, "index_dir", Path(s.index_dir or default_index_dir(s.corpus)).expanduser().resolve())
        object.__setattr__(s, "uploads_dir", Path(s.uploads_dir or s.index_dir / "uploads").expanduser().resolve())
        object.__setattr__(s, "reader_model", s.reader_model or default_reader())
        object.__setattr__(s, "selector_model", default_selector() if s.selector_model is None else s.selector_model)
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
        # A window holds the special tokens, the question and at least 32 tokens of passage (qa.answering.reader); the
        # passage's share must exceed the stride (the tokenizer's rule), so a longer stride leaves the question
        # less room: half the window keeps room for it.
        _whole(s, "max_seq_len", 64)
        _whole(s, "doc_stride", 0, s.max_seq_len // 2, high_name="half of max_seq_len")
        _whole(s, "max_answer_tokens", 1)
        _whole(s, "reader_batch_size", 1)
        _whole(s, "spans_per_passage", 1)
        _whole(s, "alternatives", 0)
        _whole(s, "max_question_chars", 1)
        for name in ("max_file_bytes", "max_unpacked_bytes", "max_text_chars", "parse_cpu_seconds",
                     "parse_memory_bytes"):
            _whole(s, name, 1)
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
