"""Why Milvus Lite 3's BM25 ranks passages differently from the local store's SQLite FTS5, cause by cause.

    python benchmarks/bench_bm25_parity.py --questions 300

The chunks of the SQuAD dev paragraphs (the corpus of `bench_milvus.py correctness --squad`) go into an
FTS5 table with the local store's tokenizer (porter unicode61), and the store's query terms rank them:
that ranking is the reference. Each variant then ranks the same chunks for the same questions, changing
one thing at a time: the IDF formula (FTS5's log((N-n+0.5)/(n+0.5)) against Lucene's, which Milvus uses),
the stemming (FTS5's own porter tokens, read back from it, against Milvus Lite's unstemmed \\w+), and
Milvus Lite's per-segment statistics (rows written in batches of 50 documents, as the store writes them,
against one insert). Prints, per variant, how often its top passage is the reference's, the overlap of the
top five, and how often the top ten are identical; then one JSON line.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SQUAD_DIR, emit  # noqa: E402

from qa.eval import questions as qs  # noqa: E402
from qa.ingest.chunking import chunk_document  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.ingest.documents import file_hash  # noqa: E402
from qa.index.schema import FTS_TOKENIZER  # noqa: E402
from qa.index.store import _STOPWORDS, _TOKEN  # noqa: E402
from qa.types import Document  # noqa: E402

K = 10
FTS5 = f"fts5(text, tokenize='{FTS_TOKENIZER}')"  # as the local store's


def query_terms(question: str) -> list[str]:
    """The local store's BM25 query terms (qa.index.store.Store.search_bm25)."""
    return list(dict.fromkeys(t for t in _TOKEN.findall(question.lower()) if t not in _STOPWORDS))


class Fts5:
    """The reference: an FTS5 table of the chunks, and FTS5's own porter tokens of any text."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(f"CREATE VIRTUAL TABLE chunks_fts USING {FTS5}")
        self.db.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", texts.items())
        self.db.execute(f"CREATE VIRTUAL TABLE scratch USING {FTS5}")
        for name, table in (("chunk_terms", "chunks_fts"), ("scratch_terms", "scratch")):
            self.db.execute(f"CREATE VIRTUAL TABLE {name} USING fts5vocab({table}, instance)")

    def search(self, terms: list[str]) -> list[int]:
        """The chunks FTS5's bm25() ranks first for these terms, as the local store asks."""
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        return [r[0] for r in self.db.execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?", (match, K))]

    def chunk_tokens(self) -> dict[int, list[str]]:
        """Each chunk's porter tokens, in order, as FTS5 indexed them."""
        out: dict[int, list[tuple[int, str]]] = {}
        for term, doc, offset in self.db.execute("SELECT term, doc, offset FROM chunk_terms"):
            out.setdefault(doc, []).append((offset, term))
        return {d: [t for _, t in sorted(v)] for d, v in out.items()}

    def stem(self, terms: list[str]) -> list[str]:
        """The porter tokens FTS5 makes of these terms."""
        self.db.execute("DELETE FROM scratch")
        self.db.execute("INSERT INTO scratch(rowid, text) VALUES (1, ?)", (" ".join(terms),))
        return [t for t, in self.db.execute("SELECT term FROM scratch_terms ORDER BY offset")]


def python_bm25(docs: dict[int, list[str]], idf_kind: str):
    """BM25 (k1 1.2, b 0.75) over token lists with global statistics and FTS5's or Lucene's IDF."""
    tf = {d: Counter(toks) for d, toks in docs.items()}
    length = {d: len(t) for d, t in docs.items()}
    n_docs, avg = len(docs), sum(length.values()) / len(docs)
    postings: dict[str, list[int]] = {}
    for d, counts in tf.items():
        for t in counts:
            postings.setdefault(t, []).append(d)

    def idf(t: str) -> float:
        n = len(postings[t])
        if idf_kind == "fts5":  # FTS5 floors a non-positive IDF at 1e-6
            return max(math.log((n_docs - n + 0.5) / (n + 0.5)), 1e-6)
        return math.log(1 + (n_docs - n + 0.5) / (n + 0.5))

    def search(terms: list[str]) -> list[int]:
        scores: dict[int, float] = {}
        for t in set(terms) & set(postings):
            for d in postings[t]:
                c = tf[d][t]
                scores[d] = scores.get(d, 0.0) + idf(t) * c * 2.2 / (c + 1.2 * (0.25 + 0.75 * length[d] / avg))
        return [d for d, _ in sorted(scores.items(), key=lambda x: -x[1])[:K]]
    return search


def milvus_bm25(texts: dict[int, str], batch: int, path: Path):
    """Milvus Lite's BM25 function over these texts (standard tokenizer, as qa.index.milvus.schema falls back to)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client = MilvusClient(str(path))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("c", schema=schema, index_params=index)
    items = sorted(texts.items())
    for at in range(0, len(items), batch):
        client.insert("c", [{"id": d, "text": t} for d, t in items[at:at + batch]])
    client.load_collection("c")

    def search(terms: list[str]) -> list[int]:
        found = client.search("c", data=[" ".join(terms)], anns_field="sparse", limit=K,
                              search_params={"metric_type": "BM25"})
        return [int(h["id"]) for h in found[0]]
    return search


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=300, help="SQuAD dev questions, a fixed sample")
    args = p.parse_args()
    s = Settings.load()
    squad = qs.load_squad(SQUAD_DIR / "dev-v1.1.json.gz")
    texts: dict[int, str] = {}
    for name, text in squad.paragraphs.items():
        doc = Document(source=name, text=text, content_hash=file_hash(text.encode()))
        chunks = chunk_document(doc, s.chunk_words, s.chunk_max_words, s.chunk_overlap_words)
        for c in chunks:
            texts[len(texts) + 1] = c.text
    fts = Fts5(texts)
    stemmed = fts.chunk_tokens()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bm25-"))
    batch = round(50 * len(texts) / len(squad.paragraphs))  # about 50 documents' chunks, as the store writes
    variants = {  # name: (search, whether the query terms are porter-stemmed first)
        "python, FTS5 porter tokens, FTS5 IDF (a check of the model)": (python_bm25(stemmed, "fts5"), True),
        "python, FTS5 porter tokens, Lucene IDF": (python_bm25(stemmed, "lucene"), True),
        "python, unstemmed \\w+ tokens, Lucene IDF": (
            python_bm25({d: _TOKEN.findall(t.lower()) for d, t in texts.items()}, "lucene"), False),
        "Milvus Lite, unstemmed (the store before qa.index.fts_terms), batches": (milvus_bm25(texts, batch, tmp / "raw.db"), False),
        "Milvus Lite, FTS5 porter tokens, batches": (
            milvus_bm25({d: " ".join(t) for d, t in stemmed.items()}, batch, tmp / "stem.db"), True),
        "Milvus Lite, FTS5 porter tokens, one insert": (
            milvus_bm25({d: " ".join(t) for d, t in stemmed.items()}, len(texts), tmp / "stem1.db"), True),
    }
    questions = [q for q in qs.sample(squad.questions, args.questions) if query_terms(q.question)]
    reference = {q.id: fts.search(query_terms(q.question)) for q in questions}
    out = {"bench": "bm25-parity", "chunks": len(texts), "questions": len(questions), "variants": {}}
    for name, (search, stem) in variants.items():
        top1 = overlap5 = same10 = 0.0
        for q in questions:
            terms = query_terms(q.question)
            got, want = search(fts.stem(terms) if stem else terms), reference[q.id]
            top1 += bool(got and want and got[0] == want[0])
            overlap5 += len(set(got[:5]) & set(want[:5])) / max(1, min(5, len(want)))
            same10 += got == want
        row = {k: round(v / len(questions), 3) for k, v in
               (("top1_same", top1), ("overlap@5", overlap5), ("top10_identical", same10))}
        out["variants"][name] = row
        print(f"{name}: {row}", flush=True)
    emit(out)


if __name__ == "__main__":
    main()
