"""FAISS query time and recall@10 against exact search, per index kind and size.

Corpus vectors: the SQuAD v1.1 paragraphs (train + dev, 19,907) embedded with the project's embedder;
above that, synthetic filler shaped like them (benchmarks/_common.synthetic_vectors) up to the size.
Queries: SQuAD questions, embedded the same way. Recall@10 is measured against exact (flat) search
over the same vectors. Single queries are timed one by one (as `answer()` issues them); the batch
figure is all queries in one call.

    .venv/bin/python benchmarks/bench_search.py                      # 10k and 100k (minutes)
    .venv/bin/python benchmarks/bench_search.py --sizes 10000,100000,1000000   # the full run

Embeddings are cached outside the repository ($QA_BENCH_CACHE, default ~/.cache/qa-bench); the first
run embeds ~20k paragraphs, which takes several minutes on 2 cores. Nothing about time is asserted.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np

from _common import emit, embed_cached, peak_rss_mb, rss_mb, sample, squad_paragraphs, summary, synthetic_vectors


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes (default: 10000,100000)")
    p.add_argument("--kinds", default="flat,hnsw,ivf", help="comma-separated kinds (default: flat,hnsw,ivf)")
    p.add_argument("--queries", type=int, default=1000, help="queries for recall (default: 1000)")
    p.add_argument("--timed", type=int, default=200, help="queries timed one at a time (default: 200)")
    p.add_argument("--k", type=int, default=10, help="neighbours (default: 10)")
    p.add_argument("--ef", default="16,32,64,96,128,256", help="HNSW efSearch values to sweep")
    p.add_argument("--nprobe", default="4,8,16,32,64,128", help="IVF nprobe values to sweep")
    p.add_argument("--real-limit", type=int, default=0, help="embed only this many SQuAD paragraphs (0: all)")
    p.add_argument("--threads", type=int, default=0, help="FAISS threads (default: all cores)")
    return p.parse_args()


def real_vectors(limit: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    from qa.models.embedder import Embedder

    texts, questions = squad_paragraphs()
    if limit:
        texts = texts[:limit]
    embedder = Embedder()
    # A fixed sample of 2,000 questions (cached once); recall is measured against exact search over the
    # same vectors, so a question need not have its paragraph in a --real-limit corpus.
    qvec = embed_cached([q["question"] for q in sample(questions, 2000, seed=0)], embedder, "squad-questions")
    pvec = embed_cached(texts, embedder, "squad-paragraphs")
    return pvec, qvec[:n_queries]


def corpus(real: np.ndarray, size: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """`size` unit vectors: real ones first (a fixed random subset when fewer are wanted), then filler."""
    if size <= len(real):
        idx = np.random.default_rng(seed).permutation(len(real))[:size]
        return np.ascontiguousarray(real[np.sort(idx)]), size
    return np.concatenate([real, synthetic_vectors(real, size - len(real), seed=seed)]), len(real)


def time_single(index, queries: np.ndarray, k: int, n: int) -> dict:
    times = []
    for q in queries[:n]:
        t = time.perf_counter()
        index.search(q[None, :], k)
        times.append(time.perf_counter() - t)
    return summary(times)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def main() -> None:
    args = parse_args()
    import faiss

    import qa.index.vectors as qv

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    real, queries = real_vectors(args.real_limit, args.queries)
    d = real.shape[1]
    print(f"real paragraph vectors: {len(real)}, queries: {len(queries)}, dim {d}, "
          f"faiss {faiss.__version__}, threads {faiss.omp_get_max_threads()}, load {os.getloadavg()[0]:.1f}")
    results = []
    for size in sizes:
        xb, n_real = corpus(real, size)
        ids = np.arange(size, dtype=np.int64)
        t = time.perf_counter()
        exact = faiss.IndexFlatIP(d)
        exact.add(xb)
        _, truth = exact.search(queries, args.k)
        print(f"\n== {size:,} vectors ({n_real:,} real, {size - n_real:,} synthetic); "
              f"exact ground truth in {time.perf_counter() - t:.1f}s")
        del exact

        def batches():
            step = 65536
            for i in range(0, size, step):
                yield ids[i:i + step], xb[i:i + step]

        for kind in kinds:
            gc.collect()
            before = rss_mb()
            t = time.perf_counter()
            index = qv.VectorIndex.build(kind, d, batches, size)
            build_s = time.perf_counter() - t
            mem = rss_mb() - before
            raw = index._index
            if kind == "hnsw":
                sweep = [("ef_search", int(v), lambda v: setattr(faiss.downcast_index(raw.index).hnsw, "efSearch", v))
                         for v in args.ef.split(",")]
            elif kind == "ivf":
                sweep = [("nprobe", int(v), lambda v: setattr(raw, "nprobe", v))
                         for v in args.nprobe.split(",") if int(v) <= raw.nlist]
            else:
                sweep = [("exact", 0, lambda v: None)]
            extra = f", nlist {raw.nlist}" if kind == "ivf" else (f", M {qv.HNSW_M}" if kind == "hnsw" else "")
            print(f"-- {kind}: built in {build_s:.1f}s, ~{mem:.0f} MiB{extra}")
            for name, value, apply in sweep:
                apply(value)
                t = time.perf_counter()
                _, found = raw.search(queries, args.k)
                batch_ms = (time.perf_counter() - t) * 1000 / len(queries)
                r = recall(found, truth)
                single = time_single(index, queries, args.k, args.timed)  # as the store calls it
                row = {"size": size, "real": n_real, "kind": kind, name: value, "recall_at_10": round(r, 4),
                       "single": single, "batch_ms_per_query": round(batch_ms, 3), "build_s": round(build_s, 2),
                       "index_mib": round(mem, 1)}
                if kind == "ivf":
                    row["nlist"] = int(raw.nlist)
                results.append(row)
                label = f"{name}={value}" if value else "exact"
                print(f"   {label:<14} recall@10 {r:.4f}   single median {single['median_ms']:.3f} ms "
                      f"p95 {single['p95_ms']:.3f} ms   batched {batch_ms:.3f} ms/query")
            del index, raw, sweep
        del xb
        gc.collect()
    print(f"\npeak memory {peak_rss_mb():.0f} MiB")
    defaults = {"threshold": qv.APPROX_THRESHOLD, "approx_kind": qv.APPROX_KIND, "hnsw_ef": qv.HNSW_EF_SEARCH,
                "hnsw_m": qv.HNSW_M, "ivf_nprobe": qv.IVF_NPROBE}
    emit({"bench": "search", "queries": len(queries), "k": args.k, "defaults": defaults,
          "peak_rss_mib": round(peak_rss_mb()), "loadavg": os.getloadavg()[0], "results": results})


if __name__ == "__main__":
    main()
