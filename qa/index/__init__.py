"""Index: where chunks and their vectors are kept and searched, and how a folder is brought into it.

Takes `Document`s and `Chunk`s (from ingest) and vectors (from models); gives dense and BM25 rankings
(`interface.IndexStore`) and the indexed documents' text. The local store is SQLite rows and FTS5 with a
FAISS file and manifest derived from them; `milvus/` is the Milvus backend; `indexer` refreshes either
from the folder, `ray_indexer` does it on Ray Data. May import: ingest, models and the top-level modules.
Never answering, eval or ui.
"""
