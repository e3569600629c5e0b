"""How long a question waits for its answer while an upload is indexed in the chat (issue 27).

An Assistant over seeds/ (models loaded, index built in a temporary folder) takes an upload of one large text file,
SQuAD v1.1 dev paragraphs making about --chunks chunks, through `qa.ui.uploads.add_documents` as the chat does,
while --users threads ask the questions of eval/seeds.jsonl one after another until the upload is indexed. It
prints the answers' times during the upload (median, p95, worst) and how many there were, how long the indexing
took, and the same questions' times with no upload (the baseline), then one JSON line.

--before DIR runs it with the code of another checkout too (main, say), alternating with this one, each run in a
fresh process, so that both see the same machine:

    .venv/bin/python benchmarks/bench_upload.py --before ../old-main --rounds 2
    .venv/bin/python benchmarks/bench_upload.py --model-copy    # what the embedder's second copy costs

Nothing about time is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(args: argparse.Namespace) -> None:
    """One run with the code of `args.child`, printed as a JSON line."""
    sys.path.insert(0, args.child)
    import qa  # first, so that the package is the one in args.child

    from qa.pipeline import Assistant
    from qa.ui.uploads import add_documents

    sys.path.insert(1, str(Path(__file__).parent))
    from _common import squad_articles, summary

    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "seeds.jsonl").open(encoding="utf-8")]
    paragraphs = [p["context"] for _, a in squad_articles(("dev",)) for p in a["paragraphs"]]
    words, text = 0, []
    for p in paragraphs:  # a chunk of 150 words shares 30 with the next: about 120 new words a chunk
        if words >= 120 * args.chunks:
            break
        text.append(p)
        words += len(p.split())
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        upload = Path(tmp) / "squad-dev.txt"
        upload.write_text("\n\n".join(text), encoding="utf-8")
        assistant = Assistant(ROOT / "seeds", Path(tmp) / "index")
        assistant.ask(questions[0])  # models loaded, index built
        baseline = []
        for q in questions:
            t = time.perf_counter()
            assistant.ask(q)
            baseline.append(time.perf_counter() - t)
        waits: list[float] = []
        result: dict[str, str] = {}
        indexing = threading.Thread(target=lambda: result.update(message=add_documents(assistant, [upload])))

        def ask_until_indexed(offset: int) -> None:
            n = offset
            while indexing.is_alive():
                t = time.perf_counter()
                assistant.ask(questions[n % len(questions)])
                waits.append(time.perf_counter() - t)
                n += 1

        started = time.perf_counter()
        indexing.start()
        users = [threading.Thread(target=ask_until_indexed, args=(i * 7,)) for i in range(args.users)]
        for u in users:
            u.start()
        indexing.join()
        took = time.perf_counter() - started
        for u in users:
            u.join()
        chunks = assistant.documents()[".uploads/squad-dev.txt"].chunks
    print(json.dumps({"code": args.child, "qa": qa.__file__, "chunks": chunks, "upload_mb": round(upload_mb(text), 2),
                      "indexing_s": round(took, 1), "users": args.users, "during_upload": summary(waits),
                      "baseline": summary(baseline), "loadavg": os.getloadavg()[0]}), flush=True)


def upload_mb(text: list[str]) -> float:
    return len("\n\n".join(text).encode("utf-8")) / 2**20


def model_copy() -> None:
    """What a second copy of the packaged embedder costs to load (the embedder loads one when the first is busy)."""
    sys.path.insert(0, str(ROOT))
    from qa.models.embedder import Embedder, resolve_embedder
    from qa.models.mean_pooling import MeanPoolingModel

    first = Embedder()
    first.embed(["warm"])  # the first copy loaded and used, and the model graph cached
    rss = lambda: int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20  # noqa: E731
    copies, seconds, mib = [], [], []
    for _ in range(3):  # each kept, as the embedder keeps its second
        before, t = rss(), time.perf_counter()
        copies.append(MeanPoolingModel(resolve_embedder("all-MiniLM-L6-v2")))
        copies[-1].encode(["warm"])
        seconds.append(time.perf_counter() - t)
        mib.append(rss() - before)
    s, m = sorted(seconds)[1], sorted(mib)[1]
    print(f"a second copy of the embedder, median of 3: {s:.2f} s to load and first use, {m:.0f} MiB "
          f"(load {os.getloadavg()[0]:.1f})")
    print(json.dumps({"second_copy_s": round(s, 3), "second_copy_mib": round(m), "loadavg": os.getloadavg()[0]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=2000, help="about how many chunks the upload makes")
    p.add_argument("--users", type=int, default=1, help="threads asking questions during the upload")
    p.add_argument("--before", help="a checkout of other code to run too, alternating with this one")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--model-copy", action="store_true", help="only time loading a second copy of the embedder")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if args.model_copy:
        return model_copy()
    runs = []
    codes = [("before", args.before), ("after", str(ROOT))] if args.before else [("this", str(ROOT))]
    for r in range(args.rounds):
        for label, code in codes if r % 2 == 0 else codes[::-1]:
            done = subprocess.run([sys.executable, __file__, "--child", code, "--chunks", str(args.chunks),
                                   "--users", str(args.users)], cwd=code, capture_output=True, text=True,
                                  env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            if done.returncode:
                raise SystemExit(f"the {label} run failed:\n{done.stderr[-3000:]}")
            run = {"label": label, **json.loads(done.stdout.strip().splitlines()[-1])}
            runs.append(run)
            d, b = run["during_upload"], run["baseline"]
            print(f"{label:>6}: {run['chunks']:,} chunks ({run['upload_mb']} MB) indexed in {run['indexing_s']} s; "
                  f"{d['n']} answers meanwhile: median {d['median_ms'] / 1000:.2f} s, p95 {d['p95_ms'] / 1000:.2f} s, "
                  f"worst {d['max_ms'] / 1000:.2f} s; no upload: median {b['median_ms'] / 1000:.2f} s, "
                  f"worst {b['max_ms'] / 1000:.2f} s (load {run['loadavg']:.1f})", flush=True)
    print(json.dumps({"runs": runs}, sort_keys=True))


if __name__ == "__main__":
    main()
