"""`answer()` latency, warm and cold, with a breakdown per stage.

Stages: query embedding, dense (FAISS) search, BM25 (SQLite FTS5), reading, and the rest (fusion,
fetching chunk rows, span ranking). Each is timed by wrapping that stage's method on the Assistant's
own objects, so the pipeline runs unchanged.

- warm: every question once more after one warm-up question, on an Assistant whose models and
  index are loaded;
- cold, in process: a fresh Assistant over the existing index, first question (models load, index
  opens, the corpus is scanned for changes);
- cold, process: a new Python process from start until the first answer is printed
  (`--cold-runs` times), with how long `import qa` and the first answer took inside it.

Default: the questions of eval/seeds.jsonl over seeds/ (index built in a temporary folder, not in
embeddings/). `--scale N` runs SQuAD dev questions over an N-chunk index instead (built once and
cached: see bench_index.py --scale).

The reader: --reader PATH, else models/reader, else an untrained stand-in of the same architecture
(said so in the output). Its timing is representative; its answers are not, so no quality is shown.

    .venv/bin/python benchmarks/bench_answer.py
    .venv/bin/python benchmarks/bench_answer.py --scale 100000 --questions 100

Nothing about time is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, build_scale_index, emit, peak_rss_mb, reader_for_timing, sample, squad_paragraphs, summary

STAGES = ("query_embedding", "dense_search", "bm25", "reading")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions-file", default=str(ROOT / "eval" / "seeds.jsonl"), help="JSONL question set")
    p.add_argument("--corpus", default=str(ROOT / "seeds"), help="corpus folder (default: seeds/)")
    p.add_argument("--scale", type=int, default=0, help="use the cached N-chunk SQuAD index instead (e.g. 100000)")
    p.add_argument("--questions", type=int, default=0, help="at most this many questions (0: all; --scale: 100)")
    p.add_argument("--real-limit", type=int, default=0,
                   help="with --scale: real SQuAD paragraphs in the index (default 0: all); the rest is synthetic")
    p.add_argument("--reader", default=None, help="reader model folder (default: models/reader or a stand-in)")
    p.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivf"])
    p.add_argument("--cold-runs", type=int, default=3, help="fresh processes timed to the first answer (default: 3)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    return p.parse_args()


def instrument(assistant, times: dict[str, float]) -> None:
    """Wrap each stage's method on this Assistant's objects to add its time to `times`."""

    def wrap(obj, name, stage):
        fn = getattr(obj, name)

        def run(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[stage] = times.get(stage, 0.0) + time.perf_counter() - t

        setattr(obj, name, run)

    store = assistant.store  # opens the index
    wrap(assistant.embedder, "embed", "query_embedding")
    wrap(store, "search_dense", "dense_search")
    wrap(store, "search_bm25", "bm25")
    wrap(assistant.reader, "run_many", "reading")  # `run` reads through `run_many` too


def ask_timed(assistant, question: str, times: dict[str, float]) -> dict[str, float]:
    times.clear()
    t = time.perf_counter()
    assistant.ask(question)
    total = time.perf_counter() - t
    row = {s: times.get(s, 0.0) for s in STAGES}
    row["rest"] = total - sum(row.values())
    row["total"] = total
    return row


def report(label: str, rows: list[dict[str, float]]) -> dict:
    out = {k: summary([r[k] for r in rows]) for k in (*STAGES, "rest", "total")}
    print(f"{label}: {len(rows)} questions; total median {out['total']['median_ms']:.1f} ms, "
          f"p95 {out['total']['p95_ms']:.1f} ms")
    for k in (*STAGES, "rest"):
        print(f"   {k:<16} median {out[k]['median_ms']:8.2f} ms   p95 {out[k]['p95_ms']:8.2f} ms")
    return out


COLD = """
import json, sys, time
t0 = time.perf_counter()
import qa
t1 = time.perf_counter()
a = qa.Assistant(sys.argv[1], sys.argv[2], reader_model=sys.argv[3], index_type=sys.argv[5])
if sys.argv[6] == "split":  # the same work as ask() does lazily, one step at a time
    a.embedder.warm_up(); t2 = time.perf_counter()
    a.reader.warm_up(); t3 = time.perf_counter()
    a.index(); t4 = time.perf_counter()
else:
    t2 = t3 = t4 = t1
answer = a.ask(sys.argv[4])
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_answer_s": t5 - t1, "embedder_load_s": t2 - t1,
                  "reader_load_s": t3 - t2, "index_open_refresh_s": t4 - t3, "first_ask_s": t5 - t4}))
"""


def cold_process(corpus: str, index_dir: str, reader: str, question: str, index_type: str, split: bool) -> dict:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD, corpus, index_dir, reader, question, index_type,
                          "split" if split else "whole"],
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    return {"wall_s": wall, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    args = parse_args()
    reader, stand_in = reader_for_timing(args.reader)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tmp = None
    if args.scale:
        corpus, index_dir, info = build_scale_index(args.scale, args.index_type, args.real_limit)
        _, qs = squad_paragraphs()
        n_real = info["real_paragraphs"]
        questions = [q["question"] for q in sample([q for q in qs if q["paragraph"] < n_real],
                                                   args.questions or 100, seed=3)]
        print(f"scale index: {info}")
    else:
        corpus = Path(args.corpus)
        tmp = tempfile.TemporaryDirectory(prefix="qa-bench-answer-")
        index_dir = Path(tmp.name) / "index"
        with open(args.questions_file, encoding="utf-8") as f:
            questions = [json.loads(line)["question"] for line in f if line.strip()]
        if args.questions:
            questions = questions[: args.questions]
    from qa.pipeline import Assistant

    settings = {"reader_model": reader, "index_type": args.index_type}
    t = time.perf_counter()
    builder = Assistant(corpus, index_dir, **settings)
    built = builder.index()
    print(f"index ready in {time.perf_counter() - t:.1f}s: {built.chunks} chunks, "
          f"{builder.store.vectors.kind} index; load {os.getloadavg()[0]:.1f}")
    builder.store.close()
    del builder

    # Cold in process: a fresh Assistant over the existing index.
    times: dict[str, float] = {}
    assistant = Assistant(corpus, index_dir, **settings)
    t = time.perf_counter()
    instrument(assistant, times)  # opening the index is part of the cold figure
    open_s = time.perf_counter() - t
    cold = ask_timed(assistant, questions[0], times)
    cold["open_index"] = open_s
    cold["total"] += open_s
    print(f"cold, in process (first question on a fresh Assistant): {cold['total'] * 1000:.0f} ms = "
          + ", ".join(f"{k} {cold[k] * 1000:.0f}" for k in ("open_index", *STAGES, "rest")) + " ms")

    rows = [ask_timed(assistant, q, times) for q in questions[1:] + questions[:1]]
    warm = report("warm", rows)
    kind = assistant.store.vectors.kind
    chunks = assistant.store.chunk_count()
    assistant.store.close()

    # Whole: `import qa` then ask() (the figure to report). Split: the same steps called one by one.
    cold_runs = [cold_process(str(corpus), str(index_dir), reader, questions[0], args.index_type, False)
                 for _ in range(args.cold_runs)]
    proc = {}
    if cold_runs:
        proc = {k: summary([r[k] for r in cold_runs]) for k in ("wall_s", "import_s", "first_answer_s")}
        print(f"cold, new process to first answer: median {proc['wall_s']['median_ms'] / 1000:.2f}s "
              f"(import qa {proc['import_s']['median_ms']:.0f} ms, first answer "
              f"{proc['first_answer_s']['median_ms'] / 1000:.2f}s) over {len(cold_runs)} runs")
        split = cold_process(str(corpus), str(index_dir), reader, questions[0], args.index_type, True)
        proc["split_once_s"] = {k: round(v, 3) for k, v in split.items()}
        print("   one run split into steps: " + ", ".join(
            f"{k.removesuffix('_s')} {v:.2f}s" for k, v in split.items() if k != "wall_s"))
    if stand_in:
        print("(reading timed with the UNTRAINED STAND-IN reader: same architecture, meaningless answers)")
    print(f"peak memory {peak_rss_mb():.0f} MiB")
    emit({"bench": "answer", "scale": args.scale, "chunks": chunks, "index_type": kind,
          "questions": len(rows), "warm": warm, "cold_in_process_ms": {k: round(v * 1000, 1) for k, v in cold.items()},
          "cold_process": proc, "reader_is_untrained_stand_in": stand_in, "peak_rss_mib": round(peak_rss_mb()),
          "loadavg": os.getloadavg()[0]})
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
