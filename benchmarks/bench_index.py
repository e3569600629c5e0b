"""Time to index a corpus end to end (read, clean, chunk, embed, store), and peak memory.

The corpus is SQuAD v1.1 paragraphs (train then dev; 19,907 in all, ~117 words each) written to a
temporary folder as one .txt file each. `--limit` keeps a run short; `--limit 0` takes them all.
After the build it also times what happens at every later start: reopening the index (the FAISS
file and FTS5 are loaded, not rebuilt), a refresh with nothing changed, and a refresh after one
file changed.

    .venv/bin/python benchmarks/bench_index.py               # 1,000 paragraphs (a few minutes)
    .venv/bin/python benchmarks/bench_index.py --limit 0     # all 19,907 (long on 2 cores)

--scale N instead builds (once; cached under $QA_BENCH_CACHE) the N-chunk index that
bench_answer.py --scale uses: the real SQuAD paragraphs plus synthetic chunks whose vectors are not
embedded (see _common.build_scale_index), and reports its size, reopen time and memory.
Peak memory is the process's peak resident set (getrusage). Nothing about time is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import (build_scale_index, embed_cached, emit, peak_rss_mb, rss_mb, sample, squad_paragraphs, summary,
                     write_squad_corpus)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=1000, help="SQuAD paragraphs to index (default: 1000; 0: all)")
    p.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivf"])
    p.add_argument("--batch-size", type=int, default=32, help="embedder batch size (default: 32)")
    p.add_argument("--keep", default=None, help="keep the corpus and index in this folder")
    p.add_argument("--scale", type=int, default=0, help="build/reuse the N-chunk scale index instead")
    p.add_argument("--queries", type=int, default=300, help="with --scale: questions for the search timings")
    p.add_argument("--real-limit", type=int, default=0,
                   help="with --scale: real SQuAD paragraphs in it (default 0: all 19,907); the rest is synthetic")
    return p.parse_args()


def scale(n: int, index_type: str, queries: int, real_limit: int) -> None:
    from qa.config import Settings
    from qa.models.embedder import Embedder
    from qa.index.indexer import index_spec
    from qa.index.store import Store

    t = time.perf_counter()
    corpus, index_dir, info = build_scale_index(n, index_type, real_limit)
    print(f"scale index at {index_dir}: {info}")
    embedder = Embedder()
    spec = index_spec(Settings.load(), embedder)
    before = rss_mb()
    t = time.perf_counter()
    store = Store.open(index_dir, spec, index_type=index_type)
    reopen_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in index_dir.iterdir()) / 2**20
    print(f"reopen: {reopen_s:.2f}s, +{rss_mb() - before:.0f} MiB; {store.chunk_count()} chunks, "
          f"{store.vectors.kind} index; {size:.0f} MiB on disk; peak RSS {peak_rss_mb():.0f} MiB")
    # Query times of the two searches on their own, with SQuAD dev questions (embedded once, cached).
    _, qs = squad_paragraphs(("dev",))
    questions = [q["question"] for q in sample(qs, queries, seed=4)]
    qvec = embed_cached(questions, embedder, "squad-dev-questions")
    bm25, dense = [], []
    for q, v in zip(questions, qvec):
        t = time.perf_counter()
        store.search_bm25(q, 30)
        bm25.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.search_dense(v[None, :], 30)
        dense.append(time.perf_counter() - t)
    # The same FTS5 query ordered by the hidden `rank` column (FTS5 can then sort inside the module).
    from qa.index.store import _STOPWORDS, _TOKEN

    rank = []
    for q in questions:
        terms = list(dict.fromkeys(w for w in _TOKEN.findall(q.lower()) if w not in _STOPWORDS))
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in terms)
        t = time.perf_counter()
        store._db.execute("SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT 30",
                          (match,)).fetchall()
        rank.append(time.perf_counter() - t)
    rank_s = summary(rank)
    print(f"BM25 ordered by rank instead of bm25(): median {rank_s['median_ms']:.2f} ms, p95 {rank_s['p95_ms']:.2f} ms")
    bm25_s, dense_s = summary(bm25), summary(dense)
    print(f"BM25 (FTS5) top-30: median {bm25_s['median_ms']:.2f} ms, p95 {bm25_s['p95_ms']:.2f} ms; "
          f"dense top-30 ({store.vectors.kind}): median {dense_s['median_ms']:.2f} ms, p95 {dense_s['p95_ms']:.2f} ms "
          f"over {len(questions)} questions")
    store.close()
    settings = Settings.load(corpus=corpus, index_dir=index_dir, index_type=index_type)
    later = later_starts(settings, embedder, min((corpus / "squad").glob("*.txt")))
    emit({"bench": "index-scale", **info, **later, "reopen_s": round(reopen_s, 3), "disk_mib": round(size),
          "bm25_top30": bm25_s, "bm25_rank_top30": rank_s, "dense_top30": dense_s,
          "index_params": store.vectors.params, "peak_rss_mib": round(peak_rss_mb()), "loadavg": os.getloadavg()[0]})


def later_starts(settings, embedder, changed_file: Path) -> dict:
    """Time what a later start costs: reopening, a refresh with nothing changed, one after a file changed
    (then the file is put back, and the index with it)."""
    from qa.index.indexer import open_store, refresh
    from qa.index.store import FAISS_NAME

    t = time.perf_counter()
    store = open_store(settings, embedder)
    reopen_s = time.perf_counter() - t
    refresh(store, embedder, settings)  # a first refresh may read files whose signatures it has not recorded
    t = time.perf_counter()
    refresh(store, embedder, settings)
    noop_s = time.perf_counter() - t
    original = changed_file.read_bytes()
    faiss_file = settings.index_dir / FAISS_NAME
    faiss_mtime = faiss_file.stat().st_mtime_ns
    changed_file.write_bytes(original + b" One more sentence.\n")
    try:
        t = time.perf_counter()
        changed = refresh(store, embedder, settings)
        one_s = time.perf_counter() - t
        rewritten = faiss_file.stat().st_mtime_ns != faiss_mtime
    finally:
        changed_file.write_bytes(original)
        refresh(store, embedder, settings)
        store.close()
    print(f"later starts: reopen {reopen_s * 1000:.0f} ms, refresh with nothing changed {noop_s * 1000:.0f} ms, "
          f"refresh after one file changed {one_s * 1000:.0f} ms ({len(changed.updated)} updated; FAISS file "
          f"{'rewritten' if rewritten else 'not rewritten, change journaled'})")
    return {"reopen_ms": round(reopen_s * 1000, 1), "noop_refresh_ms": round(noop_s * 1000, 1),
            "one_file_refresh_ms": round(one_s * 1000, 1), "faiss_rewritten": rewritten}


def main() -> None:
    args = parse_args()
    if args.scale:
        return scale(args.scale, args.index_type, args.queries, args.real_limit)
    from qa.config import Settings
    from qa.models.embedder import Embedder
    from qa.index.indexer import open_store, refresh

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qa-bench-index-"))
    corpus, index_dir = work / "corpus", work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    n_files = write_squad_corpus(corpus, args.limit)
    settings = Settings.load(corpus=corpus, index_dir=index_dir, index_type=args.index_type)
    rss0 = rss_mb()

    t = time.perf_counter()
    embedder = Embedder(batch_size=args.batch_size)
    embedder.warm_up()
    load_s = time.perf_counter() - t

    stages = {"embed": 0.0, "store": 0.0}
    embed, texts_words = embedder.embed, []

    def timed_embed(texts):
        t0 = time.perf_counter()
        try:
            return embed(texts)
        finally:
            stages["embed"] += time.perf_counter() - t0
            texts_words.extend(len(x.split()) for x in texts)

    embedder.embed = timed_embed
    store = open_store(settings, embedder)
    write, save = store.write, store.save

    def timed(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stages["store"] += time.perf_counter() - t0
        return run

    store.write, store.save = timed(write), timed(save)
    t = time.perf_counter()
    report = refresh(store, embedder, settings)
    total = time.perf_counter() - t
    chunks = report.chunks
    rest = total - stages["embed"] - stages["store"]
    words = sum(texts_words) / max(1, len(texts_words))
    peak = peak_rss_mb()
    embed_s, store_s = stages["embed"], stages["store"]
    print(f"indexed {n_files} files -> {chunks} chunks ({words:.0f} words each on average), "
          f"{store.vectors.kind} index, load {os.getloadavg()[0]:.1f}")
    print(f"end to end: {total:.1f}s = {chunks / total:.1f} chunks/s (model load {load_s:.1f}s more: "
          f"{chunks / (total + load_s):.1f} chunks/s with it)")
    print(f"  embed {stages['embed']:.1f}s ({chunks / max(stages['embed'], 1e-9):.1f} chunks/s), "
          f"store {stages['store']:.1f}s, read+clean+chunk+rest {rest:.1f}s")
    print(f"peak memory {peak:.0f} MiB (process before the model: {rss0:.0f} MiB)")
    store.close()

    later = later_starts(settings, embedder, min(corpus.glob("*.txt")))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    emit({"bench": "index", "files": n_files, "chunks": chunks, "words_per_chunk": round(words, 1),
          "seconds": round(total, 2), "chunks_per_s": round(chunks / total, 2), "model_load_s": round(load_s, 2),
          "embed_s": round(embed_s, 2), "store_s": round(store_s, 2), "other_s": round(rest, 2),
          "peak_rss_mib": round(peak), **later, "index_type": args.index_type,
          "loadavg": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
