"""How close reading and embedding run to this CPU's matrix-multiply speed: the floor under their times.

Both models are MiniLM-L6 (6 layers, hidden 384, feed-forward 1536), so their cost is almost all
matrix multiplication. This script measures what torch's sgemm does here at those shapes, counts the
floating-point work of reading one question over 5 SQuAD passages and of embedding SQuAD paragraphs,
and prints the share of the sgemm speed each reaches and the time the work would take at that speed.

    .venv/bin/python benchmarks/bench_cpu.py [--runs 20]

Reading is timed with the bundled reader, or with the untrained stand-in of the same shape while
models/reader is missing (the work and the time are the same).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _common import emit, reader_for_timing, sample, squad_articles, squad_paragraphs

LAYERS, HIDDEN, FFN = 6, 384, 1536


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20, help="timed runs of each measurement (default 20)")
    p.add_argument("--texts", type=int, default=256, help="SQuAD paragraphs to embed (default 256)")
    return p.parse_args()


def encoder_flops(lengths: list[int]) -> float:
    """Floating-point operations of one MiniLM-L6 pass over sequences of these token lengths."""
    dense = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)  # Q, K, V, output; the two feed-forward layers
    return sum(LAYERS * (n * dense + 4 * n * n * HIDDEN) for n in lengths)  # + scores and weighted sum


def median_seconds(fn, runs: int) -> float:
    """Median wall time of `fn()` over `runs` calls, after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sgemm_gflops(runs: int) -> dict[str, float]:
    """torch's fp32 matrix-multiply speed at the encoder's shapes, for 1,100 tokens (5 passages)."""
    import torch

    tokens = torch.randn(1100, HIDDEN)
    out = {}
    for name, width in (("384x384", HIDDEN), ("384x1536", FFN)):
        weight = torch.randn(HIDDEN, width)
        seconds = median_seconds(lambda w=weight: tokens @ w, runs)
        out[name] = 2 * 1100 * HIDDEN * width / seconds / 1e9
    return out


def reading(runs: int) -> dict:
    """The reader over one question and 5 SQuAD dev passages, as answer() reads them."""
    from qa.answering.reader import Reader, featurize

    folder, stand_in = reader_for_timing(None)
    reader = Reader(folder)
    reader.warm_up()
    items = [(p["qas"][0]["question"], p["context"]) for _, a in squad_articles(("dev",)) for p in a["paragraphs"]]
    groups = [sample(items, 5, seed=i) for i in range(runs)]
    lengths, seconds = [], []
    for group in groups:
        question, passages = group[0][0], [g[1] for g in group]
        windows = featurize(reader._tokenizer, [question] * 5, passages, reader.max_seq_len, reader.doc_stride)
        lengths.append([int(n) for n in windows.inputs["attention_mask"].sum(axis=1)])
        seconds.append(median_seconds(lambda q=question, p=passages: reader.run(q, p), 3))
    flops = statistics.median(encoder_flops(n) for n in lengths)
    median = statistics.median(seconds)
    p95 = statistics.quantiles(seconds, n=20)[18] if len(seconds) > 1 else median
    return {"stand_in": stand_in, "tokens": statistics.median(sum(n) for n in lengths),
            "gflop": flops / 1e9, "median_ms": median * 1000, "p95_ms": p95 * 1000, "gflops": flops / median / 1e9}


def embedding(n_texts: int) -> dict:
    """The embedder over SQuAD paragraphs, as indexing embeds chunks."""
    from qa.models.embedder import Embedder

    texts, _ = squad_paragraphs(("dev",))
    texts = sample(texts, n_texts, seed=3)
    embedder = Embedder()
    embedder.warm_up()
    model = embedder._model
    lengths = [min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"]]
    embedder.embed(texts[:32])
    t = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - t
    flops = encoder_flops(lengths)
    return {"texts": len(texts), "mean_tokens": statistics.fmean(lengths), "texts_per_s": len(texts) / seconds,
            "gflops": flops / seconds / 1e9}


def main() -> None:
    args = parse_args()
    import torch

    peak = sgemm_gflops(args.runs)
    best = max(peak.values())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; sgemm at the encoder's shapes "
          f"(1,100 tokens): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items()))
    read = reading(args.runs)
    print(f"reading 5 passages ({read['tokens']:.0f} tokens, {read['gflop']:.1f} GFLOP): median "
          f"{read['median_ms']:.0f} ms (p95 {read['p95_ms']:.0f} ms over {args.runs} draws) = {read['gflops']:.0f} GFLOP/s, {read['gflops'] / best:.0%} of sgemm; "
          f"at sgemm speed it would take {read['gflop'] / best * 1000:.0f} ms"
          + (" (untrained stand-in of the same shape)" if read["stand_in"] else ""))
    per_token_ms = read["gflop"] / read["tokens"] / best * 1000
    print(f"  so reading within 80 ms needs at most ~{80 / per_token_ms:.0f} tokens a question at sgemm speed "
          f"(one passage of ~150 words is ~200 tokens with the question)")
    emb = embedding(args.texts)
    at_peak = emb["texts_per_s"] * best / emb["gflops"]
    print(f"embedding {emb['texts']} SQuAD paragraphs ({emb['mean_tokens']:.0f} tokens each): "
          f"{emb['texts_per_s']:.1f} texts/s = {emb['gflops']:.0f} GFLOP/s, {emb['gflops'] / best:.0%} of sgemm; "
          f"at sgemm speed {at_peak:.1f} texts/s")
    emit({"bench": "cpu", "sgemm_gflops": {k: round(v, 1) for k, v in peak.items()},
          "reading": {k: round(v, 2) if isinstance(v, float) else v for k, v in read.items()},
          "embedding": {k: round(v, 2) if isinstance(v, float) else v for k, v in emb.items()},
          "threads": torch.get_num_threads(), "loadavg": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
