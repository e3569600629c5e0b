"""Asking within chosen documents, and asking every document: warm timings and peak memory.

    python benchmarks/bench_scope.py one [--old PATH]   # ask with a one-document scope against today's ask, seeds/
    python benchmarks/bench_scope.py each [--docs 40 --words 5000]   # ask_each over 40 CUAD contracts of ~5,000 words
    python benchmarks/bench_scope.py all --index-dir DIR   # `qa table` over all 443 CUAD contracts: time, peak memory

`one` runs each variant in its own warm process (the old code from a checkout of main, PYTHONPATH=PATH) and asks
them the questions of eval/seeds.jsonl that name a document (51 of 63) in turn, alternating, so that the machine's load falls on all alike; the
scoped variant asks each question of its own document. `each` indexes the contracts (their files are copied to a
temporary folder, never into the repository) and times `Assistant.ask_each` for CUAD's nine factoid questions, against
asking each document alone in a loop. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, summary

CUAD = ROOT.parent / "shared" / "data" / "realdocs" / "cuad"
SEEDS = ROOT / "eval" / "seeds.jsonl"
WORKER = """
import json, sys, time
from qa.pipeline import Assistant
a = Assistant(sys.argv[1], sys.argv[2])
a.warm_up()
print("ready", flush=True)
for line in sys.stdin:
    question, sources = json.loads(line)
    t = time.perf_counter()
    answer = a.ask(question, sources=sources) if sources else a.ask(question)
    print(json.dumps([time.perf_counter() - t, answer.text, len(answer.passages)]), flush=True)
"""


def _worker(path: Path, corpus: Path, index: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(path), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(corpus), str(index)], cwd=str(path), env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def bench_one(args: argparse.Namespace) -> None:
    """Today's ask (main), this ask without a scope, and this ask within the question's own document."""
    rows = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [q for q in rows if q["source"]]  # those asked of a document: a scope needs one
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"today (main)": (Path(args.old), None), "this, no scope": (ROOT, None),
                    "this, one-document scope": (ROOT, "source")}
        workers = {name: _worker(path, ROOT / "seeds", Path(tmp) / name.replace(" ", "_"))
                   for name, (path, _) in variants.items()}
        times: dict[str, list[float]] = {name: [] for name in variants}
        read: dict[str, list[int]] = {name: [] for name in variants}
        for round_ in range(args.rounds + 1):  # the first round warms the caches and is not counted
            for i, q in enumerate(questions):
                names = list(variants)
                names = names[i % len(names):] + names[:i % len(names)]  # each goes first in turn
                for name in names:
                    scoped = [q["source"]] if variants[name][1] else None
                    workers[name].stdin.write(json.dumps([q["question"], scoped]) + "\n")
                    workers[name].stdin.flush()
                    seconds, _, passages = json.loads(workers[name].stdout.readline())
                    if round_:
                        times[name].append(seconds)
                        read[name].append(passages)
        for proc in workers.values():
            proc.stdin.close()
            proc.wait()
    result = {"bench": "scope-one", "questions": len(questions), "rounds": args.rounds,
              "loadavg": os.getloadavg()[0]}
    for name in variants:
        result[name] = {**summary(times[name]), "passages_read": round(statistics.fmean(read[name]), 2)}
        print(f"{name:>26}: median {result[name]['median_ms']:.1f} ms, p95 {result[name]['p95_ms']:.1f} ms "
              f"(passages retrieved {result[name]['passages_read']})")
    emit(result)


def contracts_near(words: int, count: int) -> list[Path]:
    """The `count` CUAD contracts whose length is nearest `words` words."""
    files = sorted((CUAD / "corpus").glob("*.txt"))
    lengths = {f: len(f.read_text(encoding="utf-8", errors="replace").split()) for f in files}
    return sorted(sorted(files, key=lambda f: (abs(lengths[f] - words), f.name))[:count]), lengths


def factoid_questions() -> list[str]:
    rows = [json.loads(line) for line in (CUAD / "factoid.jsonl").read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(r["question"] for r in rows))


def bench_each(args: argparse.Namespace) -> None:
    """ask_each over `--docs` contracts of about `--words` words, warm, against asking each document alone."""
    from qa.pipeline import Assistant

    chosen, lengths = contracts_near(args.words, args.docs)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="qa-bench-each-"))
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for f in chosen:  # copied to a temporary folder (a link out of the corpus is not indexed)
        if not (corpus / f.name).exists():
            shutil.copyfile(f, corpus / f.name)
    a = Assistant(corpus, work / "index")
    t = time.perf_counter()
    report = a.index()
    indexing = time.perf_counter() - t
    a.warm_up()
    questions = factoid_questions()
    a.ask_each(questions[0])  # warm
    batched, alone, passages = [], [], 0
    for i, q in enumerate(questions):
        ways = ["batched", "alone"] if args.loop else ["batched"]
        for way in ways if i % 2 == 0 else ways[::-1]:  # each goes first in turn
            t = time.perf_counter()
            if way == "batched":
                answers = a.ask_each(q)
                batched.append(time.perf_counter() - t)
            else:
                for doc in a.documents():
                    a.ask(q, sources=[doc])
                alone.append(time.perf_counter() - t)
        passages += sum(len(x.passages) for x in answers)
        print(f"  {q[:60]:<60} ask_each {batched[-1]:.2f} s" + (f", one at a time {alone[-1]:.2f} s" if alone else "")
              + f"; {sum(1 for x in answers if x.text)} of {len(answers)} answered", flush=True)
    words = [lengths[f] for f in chosen]
    result = {"bench": "scope-each", "documents": len(chosen), "words_mean": round(statistics.fmean(words)),
              "words_min": min(words), "words_max": max(words), "chunks": report.chunks,
              "index_seconds": round(indexing, 1), "ask_each_median_s": round(statistics.median(batched), 3),
              "ask_each_max_s": round(max(batched), 3), "questions": len(questions), "loadavg": os.getloadavg()[0],
              "passages_retrieved_per_document": round(passages / len(questions) / len(chosen), 2)}
    if alone:
        result["one_at_a_time_median_s"] = round(statistics.median(alone), 3)
    print(f"{len(chosen)} contracts ({result['words_mean']:,} words on average, {report.chunks:,} chunks): "
          f"ask_each median {result['ask_each_median_s']} s" +
          (f", one document at a time {result['one_at_a_time_median_s']} s" if alone else ""))
    emit(result)


def bench_all(args: argparse.Namespace) -> None:
    """`qa table` over every CUAD contract, its index built already: wall time and the peak memory of the command."""
    out = Path(tempfile.mkdtemp(prefix="qa-bench-all-")) / "table.csv"
    command = [str(Path(sys.executable).parent / "qa"), "table", args.question, "--corpus", str(CUAD / "corpus"),
               "--index-dir", args.index_dir, "--csv", str(out)]
    t = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = len(list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))))
    result = {"bench": "scope-all", "question": args.question, "documents": rows, "seconds": round(seconds, 1),
              "peak_rss_mb": round(peak), "loadavg": os.getloadavg()[0]}
    print(f"qa table over {rows} contracts: {seconds:.1f} s from start to CSV (models loaded, index opened), "
          f"peak memory {peak:.0f} MiB")
    emit(result)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    one = sub.add_parser("one")
    one.add_argument("--old", default=str(ROOT.parent / "old-wt25"), help="a checkout of main")
    one.add_argument("--rounds", type=int, default=3)
    each = sub.add_parser("each")
    each.add_argument("--docs", type=int, default=40)
    each.add_argument("--words", type=int, default=5000)
    each.add_argument("--workdir", help="keep the linked corpus and its index here (default: a new temporary one)")
    each.add_argument("--loop", action="store_true", help="also time asking each document alone, one after another")
    every = sub.add_parser("all")
    every.add_argument("--index-dir", required=True, help="an index of ../shared/data/realdocs/cuad/corpus")
    every.add_argument("--question", default="Which state or country's law governs the contract?")
    args = p.parse_args()
    {"one": bench_one, "each": bench_each, "all": bench_all}[args.what](args)


if __name__ == "__main__":
    main()
