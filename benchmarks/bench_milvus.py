"""The Milvus store and Ray indexing against the local store: answers, scale, and indexing throughput.

    python benchmarks/bench_milvus.py correctness [--squad N]   # seeds (and N SQuAD dev questions)
    python benchmarks/bench_milvus.py scale --chunks 100000     # Milvus Lite vs local at N chunks: insert, latency, recall
    python benchmarks/bench_milvus.py ray --files 200           # Ray indexing with 1 and 2 workers: chunks/s

Prints figures, then one JSON line; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SQUAD_DIR, embed_cached, emit, squad_paragraphs, summary, synthetic_vectors  # noqa: E402

from qa.eval import metrics as ev  # noqa: E402
from qa.eval import questions as qs  # noqa: E402
from qa.ingest.chunking import chunk_document  # noqa: E402
from qa.models.embedder import Embedder  # noqa: E402
from qa.pipeline import Assistant  # noqa: E402
from qa.answering.retriever import Retriever  # noqa: E402
from qa.types import Document  # noqa: E402


class MemoEmbedder:
    """The project's Embedder, each text embedded once across both stores (the vectors are the same)."""

    def __init__(self, embedder: Embedder) -> None:
        self._e, self._memo = embedder, {}
        self.model_name, self.device, self.batch_size = embedder.model_name, embedder.device, embedder.batch_size

    @property
    def dimension(self) -> int:
        return self._e.dimension

    def warm_up(self) -> None:
        self._e.warm_up()

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            self._memo.update(zip(todo, self._e.embed(todo)))
        return np.stack([self._memo[t] for t in texts]) if texts else self._e.embed([])


def correctness(args: argparse.Namespace) -> dict:
    """EM, F1 and recall@5 of the same questions answered from the local store and from Milvus Lite."""
    memo = MemoEmbedder(Embedder())
    sets = [] if args.no_seeds else [("seeds", ROOT / "seeds", qs.load_jsonl(ROOT / "eval" / "seeds.jsonl"))]
    tmp = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    if args.squad:
        squad = qs.load_squad(SQUAD_DIR / "dev-v1.1.json.gz")
        qs.write_corpus(squad.paragraphs, tmp / "squad")
        sets.append((f"squad-dev-{args.squad}", tmp / "squad", qs.sample(squad.questions, args.squad)))
    out = {}
    for name, corpus, questions in sets:
        row = {}
        answers = {}
        for store in ("local", str(tmp / f"{name}.db")):
            a = Assistant(corpus=corpus, index_dir=tmp / f"{name}-index", store=store)
            a.embedder = memo
            a.index()
            if args.retrieval_only:
                predictions, seconds = ev.timed(ev.run_retrieval, a, questions)
            else:
                predictions, seconds = ev.timed(ev.run_pipeline, a, questions, progress=_progress(name, store))
            print(f"{name} {store}: {len(questions)} questions in {seconds:.0f} s, loadavg {os.getloadavg()[0]:.1f}",
                  flush=True)
            scored = ev.score_retrieval(predictions) if args.retrieval_only else ev.score(predictions)
            key = "local" if store == "local" else "milvus"
            row[key] = {k: scored.get(k) for k in ("exact_match", "f1", "recall@5", "n")}
            row[key]["seconds_per_question"] = round(seconds / len(questions), 4)
            answers[key] = [(p.text, tuple(p.retrieved)) for p in predictions]
            a.store.close()
        same = [x == y for x, y in zip(answers["local"], answers["milvus"])]
        # Kept so that a difference between the stores can be traced to its questions afterwards.
        (tmp / f"{name}-answers.json").write_text(json.dumps(
            [{"id": q.id, "question": q.question, "gold": list(q.answers), "local": lo, "milvus": mi}
             for q, lo, mi in zip(questions, answers["local"], answers["milvus"])], indent=1), encoding="utf-8")
        print(f"answers of both stores: {tmp / f'{name}-answers.json'}")
        row["same_answer_and_passages_share"] = round(float(np.mean(same)), 4)
        out[name] = row
        print(f"{name}: {row}")
    return {"bench": "milvus-correctness", **out}


def _progress(name: str, store: str):
    """A line every 250 questions, so that a long run shows where it is."""
    t0 = time.perf_counter()

    def report(done: int, total: int) -> None:
        if done % 250 == 0 or done == total:
            print(f"  {name} {Path(store).name}: {done}/{total} in {time.perf_counter() - t0:.0f} s, "
                  f"loadavg {os.getloadavg()[0]:.1f}", flush=True)
    return report


def scale_rows(n: int, real: int, queries: int, words: int) -> tuple[list, np.ndarray, list[str], int]:
    """About `n` chunks of real SQuAD text (`words`-word chunks of its paragraphs) with vectors: the first
    `real` chunks' own embeddings, the rest synthetic unit vectors shaped like them (embedding 100k
    chunks would take about an hour here)."""
    texts, questions = squad_paragraphs()
    docs, count = [], 0
    for i, text in enumerate(texts):
        doc = Document(source=f"{i:05d}.txt", text=text, content_hash=f"{i:064x}")
        chunks = chunk_document(doc, words, words * 3 // 2, 0)
        docs.append((doc, chunks))
        count += len(chunks)
        if count >= n:
            break
    chunk_texts = [c.text for _, cs in docs for c in cs]
    e = Embedder()
    sample = embed_cached(chunk_texts[:real], e, "milvus-scale")
    vectors = np.concatenate([sample, synthetic_vectors(sample, len(chunk_texts) - real)])
    rows, at = [], 0
    for doc, chunks in docs:
        rows.append((doc, chunks, vectors[at:at + len(chunks)]))
        at += len(chunks)
    asked = [q["question"] for q in questions[:: max(1, len(questions) // queries)]][:queries]
    return rows, vectors, asked, len(chunk_texts)


def scale(args: argparse.Namespace) -> dict:
    """Insert rate, per-query dense/BM25/fused latency and dense recall@10, Milvus Lite and local, one run."""
    from qa.index.milvus.store import MilvusStore
    from qa.index.store import IndexSpec, Store, chunk_key

    rows, vectors, queries, n = scale_rows(args.chunks, args.real, args.queries, args.chunk_words)
    if n < args.chunks:  # SQuAD train and dev make about 74k chunks of 30 words
        print(f"only {n} chunks of SQuAD text, fewer than the {args.chunks} asked for", flush=True)
    e = Embedder()
    q = e.embed(queries)
    exact = np.argsort(-(q @ vectors.T), axis=1)[:, :10]
    keys = np.array([chunk_key(c.id) for _, cs, _ in rows for c in cs])
    spec = IndexSpec(embedder=e.model_name, dimension=e.dimension, chunk_words=args.chunk_words,
                     chunk_max_words=args.chunk_words * 3 // 2,
                     chunk_overlap_words=0, cleaning_version=0, chunking_version=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-milvus-scale-"))
    out = {"bench": "milvus-scale", "chunks": n, "real_vectors": args.real, "queries": len(queries),
           "loadavg": os.getloadavg()[0]}
    for name in ("local", "milvus"):
        store = Store.open(tmp / "index", spec) if name == "local" else MilvusStore.open(str(tmp / "qa.db"), spec)
        t0 = time.perf_counter()
        for at in range(0, len(rows), 50):
            store.write(rows[at:at + 50])
        inserted = time.perf_counter() - t0
        store.save()
        built = time.perf_counter() - t0 - inserted
        dense_t, bm25_t, fused_t, recall = [], [], [], []
        retriever = Retriever(store, e)
        for i, text in enumerate(queries):
            t = time.perf_counter()
            found = store.search_dense(q[i:i + 1], 100)[0]
            dense_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.search_bm25(text, 100)
            bm25_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            retriever.rank(store.search_dense(q[i:i + 1], 100)[0], store.search_bm25(text, 100), 5)
            fused_t.append(time.perf_counter() - t)
            recall.append(len({k for k, _ in found[:10]} & set(keys[exact[i]].tolist())) / 10)
        out[name] = {"insert_chunks_per_s": round(n / inserted, 1), "index_build_s": round(built, 1),
                     "dense": summary(dense_t), "bm25": summary(bm25_t), "fused_with_chunk_fetch": summary(fused_t),
                     "dense_recall@10": round(float(np.mean(recall)), 4)}
        print(f"{name}: {out[name]}")
        store.close()
    return out


def ray_throughput(args: argparse.Namespace) -> dict:
    """Chunks/s of `index_with_ray` into a fresh Milvus Lite file, with 1 and 2 embedding workers."""
    import ray

    from qa.config import Settings
    from qa.index.indexer import open_store
    from qa.index.ray_indexer import index_with_ray, start_ray

    texts, _ = squad_paragraphs(("dev",))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    for i, text in enumerate(texts[:args.files]):
        (corpus / f"{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
    t = time.perf_counter()
    start_ray(None, 2)
    out = {"bench": "ray-indexing", "files": args.files, "ray_init_s": round(time.perf_counter() - t, 1),
           "cpus": os.cpu_count(), "loadavg": os.getloadavg()[0]}
    e = Embedder()
    for workers in (1, 2):
        s = Settings.load(corpus=corpus, store=str(tmp / f"w{workers}.db"))
        store = open_store(s, e)
        t = time.perf_counter()
        report = index_with_ray(store, s, workers=workers)
        seconds = time.perf_counter() - t
        store.close()
        out[f"workers_{workers}"] = {"chunks": report.chunks, "seconds": round(seconds, 1),
                                     "chunks_per_s": round(report.chunks / seconds, 2),
                                     "chunks_per_s_per_worker": round(report.chunks / seconds / workers, 2)}
        print(f"{workers} worker(s): {out[f'workers_{workers}']}")
    ray.shutdown()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("correctness")
    c.add_argument("--squad", type=int, default=0, help="also this many SQuAD dev questions, end to end")
    c.add_argument("--no-seeds", action="store_true", help="only the SQuAD questions")
    c.add_argument("--retrieval-only", action="store_true", help="recall@5 only, no reading")
    s = sub.add_parser("scale")
    s.add_argument("--chunks", type=int, default=100_000)
    s.add_argument("--real", type=int, default=2048, help="chunks with their own embeddings; the rest synthetic")
    s.add_argument("--queries", type=int, default=200, help="SQuAD questions timed and scored")
    s.add_argument("--chunk-words", type=int, default=30,
                   help="words a chunk (SQuAD makes ~74k chunks of 30 words, ~104k of 21)")
    r = sub.add_parser("ray")
    r.add_argument("--files", type=int, default=200, help="SQuAD dev paragraphs, one file each")
    args = p.parse_args()
    result = {"correctness": correctness, "scale": scale, "ray": ray_throughput}[args.what](args)
    result["loadavg_end"] = os.getloadavg()[0]
    emit(result)


if __name__ == "__main__":
    main()
