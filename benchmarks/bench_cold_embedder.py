"""A new process's cost of its first query vector: the embedder as qa loads the packaged MiniLM (ONNX
Runtime, qa.models.bert_onnx through qa.models.mean_pooling) against sentence-transformers (what it did at first).

    .venv/bin/python benchmarks/bench_cold_embedder.py qa     # or: st
    for i in 1 2; do for m in st qa; do .venv/bin/python benchmarks/bench_cold_embedder.py $m; done; done

Each run is a fresh process; it prints how long `import qa.pipeline` took (what `qa ask` imports before any
model), then loading the embedder and embedding one question, and the load average. Nothing is asserted.
"""

import os
import sys
import time

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
t0 = time.perf_counter()
import qa.pipeline  # noqa: E402,F401
from qa.models.embedder import Embedder, resolve_embedder  # noqa: E402

t1 = time.perf_counter()
QUESTION = "Who is the Secretary for Security?"
if sys.argv[1:] == ["st"]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_embedder("all-MiniLM-L6-v2"), device="cpu", local_files_only=True)
    model.encode([QUESTION], normalize_embeddings=True, show_progress_bar=False)
else:
    Embedder().embed([QUESTION])
t2 = time.perf_counter()
print(f"{(sys.argv[1:] or ['qa'])[0]}: import qa.pipeline {t1 - t0:.2f}s, embedder load and first query "
      f"{t2 - t1:.2f}s, load {os.getloadavg()[0]:.1f}")
