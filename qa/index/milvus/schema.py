"""Milvus connection and collections for the Milvus store: what they hold, how they are indexed, and
Milvus errors turned into messages that name the URI.

Four collections, all named with the `qa_` prefix:

- `qa_chunks`: a row per chunk, keyed by `qa.index.store.chunk_key`: its id, source, offsets, the document's
  content hash, text, the dense vector, and (Milvus 2.5 on) the text's terms as the local store's FTS5
  tokenizer makes them (`qa.index.fts_terms`), from which Milvus's own BM25 function fills a sparse vector;
- `qa_documents`: each document's cleaned text, in parts of `PART_CHARS` (a VARCHAR holds 65,535
  bytes); part 0, the head, holds its hash and chunk count and is written last, as the commit marker;
- `qa_files`: the file signatures that let a refresh skip reading unchanged files;
- `qa_meta`: the index spec, the corpus folder, the dense index kind, and the sources of a write in progress.

Every Milvus collection needs a vector field (Milvus Lite 3 refuses one without), so the last three
carry a two-number placeholder vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qa.errors import IndexError_
from qa.index.fts_terms import fts_terms
from qa.index.store import chunk_key
from qa.types import Chunk, Document
from qa.index.vectors import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, IVF_NPROBE, ivf_lists

log = logging.getLogger(__name__)

CHUNKS, DOCUMENTS, FILES, META = "qa_chunks", "qa_documents", "qa_files", "qa_meta"
COLLECTIONS = (CHUNKS, DOCUMENTS, FILES, META)
PART_CHARS = 16_000  # at most 4 bytes a character in UTF-8: a part stays under a VARCHAR's 65,535 bytes
TEXT_BYTES = 65_535
SOURCE_BYTES = 4_096
PLACEHOLDER = [0.0, 1.0]  # the vector of the collections that need none
# Milvus retries a refused connection for a long while by default; an index that is not there should
# say so at once.
CONNECT_TIMEOUT_S = 5.0
# The terms come stemmed and lower-cased already (qa.index.fts_terms); Milvus only splits them at the spaces.
TERMS_ANALYZER = {"tokenizer": "standard", "filter": ["lowercase"]}


def connect(uri: str):
    """A MilvusClient for `uri`, or IndexError_ at once naming it: not installed, unreachable, or held."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise IndexError_(f"the store {uri} is a Milvus URI, but pymilvus is not installed: "
                          "pip install 'qa[milvus]'") from exc
    # pymilvus warns on every paged read that Milvus Lite gives no MVCC timestamp, and logs each failed
    # call before raising it: our messages say what matters.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
    server_log = logging.getLogger("grpc._server")  # Milvus Lite 3 serves in this process
    if _unimplemented not in server_log.filters:
        server_log.addFilter(_unimplemented)
    try:
        client = MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
        if is_lite(uri):
            _lite_users[uri] = _lite_users.get(uri, 0) + 1
        return client
    except Exception as exc:  # pymilvus raises several kinds, with the cause further down the chain
        causes: list[BaseException] = []
        while exc is not None and all(exc is not c for c in causes):  # pymilvus raises `e from e`: a cycle
            causes.append(exc)
            exc = exc.__cause__ or exc.__context__
        if any(type(c).__name__ == "DataDirLockedError" for c in causes) or (is_lite(uri) and _held_elsewhere(uri)):
            raise IndexError_(f"the Milvus Lite file {uri} is open in another process (a second writer, or "
                              "`qa serve`): Milvus Lite lets one process at a time hold it. Stop that one, or "
                              "use a Milvus server for several") from causes[0]
        what = "open the Milvus Lite file" if is_lite(uri) else "reach the Milvus server at"
        raise IndexError_(f"cannot {what} {uri} ({_first_line(causes[0])}): check the URI, that the server "
                          "is running, or use --store local") from causes[0]


def _unimplemented(record: logging.LogRecord) -> bool:
    """Milvus Lite's server logs a traceback for each call it does not implement: pymilvus asks for a timestamp
    (AllocTimestamp) before each paged read, and reads on without one. Not a failure: not shown."""
    return not (record.exc_info and isinstance(record.exc_info[1], NotImplementedError))


def _held_elsewhere(uri: str) -> bool:
    """Whether another process holds the Milvus Lite file's lock (Milvus Lite 3 logs that, and pymilvus
    raises only "Open local milvus failed")."""
    import fcntl

    lock = Path(uri) / "LOCK"
    if not lock.is_file():
        return False
    with open(lock, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def disconnect(client, uri: str) -> bool:
    """Close the client; the last one of a Milvus Lite file in this process also stops Milvus Lite's server
    thread, which holds the file's lock until then (else until the process ends). True when it did: the
    file's data is at rest."""
    client.close()
    if is_lite(uri) and _lite_users.get(uri, 0) > 0:
        _lite_users[uri] -= 1
        if _lite_users[uri] == 0:
            try:
                from milvus_lite.server_manager import server_manager_instance
            except ImportError:  # Milvus Lite 2.x runs in a child process, which closing stops
                return False
            server_manager_instance.release_server(uri)
            return True
    return False


_lite_users: dict[str, int] = {}  # open clients per Milvus Lite file in this process


def is_lite(uri: str) -> bool:
    """Whether `uri` names a Milvus Lite file rather than a server."""
    return uri.endswith(".db")


def server_has_bm25(client) -> bool:
    """Whether Milvus's BM25 function is there: Milvus Lite and servers from 2.5 on have it."""
    try:
        version = client.get_server_version()
    except Exception:  # Milvus Lite 2.5 does not implement the call; servers all do
        return True
    found = re.search(r"(\d+)\.(\d+)", str(version))
    # "milvus_lite-3.2.2" (Milvus Lite 3), "v2.3.5-lite" (the pip `milvus` standalone, a full server)
    return found is None or (int(found[1]), int(found[2])) >= (2, 5)


@contextlib.contextmanager
def milvus_errors(uri: str, doing: str) -> Iterator[None]:
    """Turn a Milvus error into IndexError_ that says what was being done, and where."""
    try:
        yield
    except IndexError_:
        raise
    except Exception as exc:
        from pymilvus.exceptions import MilvusException

        if not isinstance(exc, MilvusException):
            raise
        raise IndexError_(f"Milvus at {uri} failed to {doing}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    return text.splitlines()[0] if text else type(exc).__name__


def create_collections(client, dimension: int, bm25: bool) -> list[str]:
    """Create whichever of the four collections is missing, and load them all for search; returns those made."""
    have = set(client.list_collections())
    made = [name for name in COLLECTIONS if name not in have]
    for name in made:
        if name != CHUNKS:
            schema, index = _side_schema(client, name)
        else:
            schema, index = _chunks_schema(client, dimension, bm25)
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    for name in COLLECTIONS:
        client.load_collection(name)  # a reopened Milvus Lite file has them released
    return made


def _chunks_schema(client, dimension: int, bm25: bool):
    """The chunks collection: with BM25 on its text's terms, or dense only."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    index = client.prepare_index_params()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=64)
    schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_BYTES)
    schema.add_field("start_char", DataType.INT64)
    schema.add_field("end_char", DataType.INT64)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    index.add_index("vector", **dense_index("flat", 0))
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
    if not bm25:
        return schema, index
    schema.add_field("terms", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                     analyzer_params=TERMS_ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["sparse"]))
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index


def _side_schema(client, name: str):
    """The documents, files or meta collection, each with its placeholder vector."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    index = client.prepare_index_params()
    if name == DOCUMENTS:
        schema.add_field("id", DataType.INT64, is_primary=True)  # row_key(source, part)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_BYTES)
        schema.add_field("part", DataType.INT64)
        schema.add_field("parts", DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("chunks", DataType.INT64)
        schema.add_field("indexed_at", DataType.DOUBLE)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
    elif name == FILES:
        schema.add_field("id", DataType.INT64, is_primary=True)  # row_key(source)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_BYTES)
        for field in ("size", "mtime_ns", "ctime_ns"):
            schema.add_field(field, DataType.INT64)
    else:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    index.add_index("placeholder", index_type="FLAT", metric_type="L2")
    return schema, index


def dense_index(kind: str, count: int) -> dict:
    """Milvus index parameters for the local store's index kind (`qa.index.vectors.choose_kind`) at `count` vectors."""
    if kind == "hnsw":
        return {"index_type": "HNSW", "metric_type": "IP",
                "params": {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}}
    if kind == "ivf":
        return {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": ivf_lists(count)}}
    return {"index_type": "FLAT", "metric_type": "IP"}


def dense_search_params(kind: str) -> dict:
    """Search parameters to go with `dense_index(kind)`: recall as the local store's."""
    params = {"hnsw": {"ef": HNSW_EF_SEARCH}, "ivf": {"nprobe": IVF_NPROBE}}.get(kind, {})
    return {"metric_type": "IP", "params": params}


def row_key(source: str, part: int = 0) -> int:
    """The int64 key of a document part or file row. Keys are numbers because pymilvus's paged reads write
    a text key into a filter unescaped, which a quote or backslash in a file name breaks."""
    return int(hashlib.sha256(f"{part}:{source}".encode("utf-8", "surrogatepass")).hexdigest()[:15], 16)


def chunk_rows(doc: Document, chunks: list[Chunk], vectors: np.ndarray, bm25: bool) -> list[dict]:
    """The rows of `qa_chunks` for a document's chunks, with their BM25 terms where the collection has them."""
    for c in chunks:
        if len(c.text.encode("utf-8")) > TEXT_BYTES:
            raise IndexError_(f"a chunk of {c.source} is over {TEXT_BYTES:,} bytes, more than Milvus holds in a field")
    rows = [{"id": chunk_key(c.id), "chunk_id": c.id, "source": c.source, "start_char": c.start, "end_char": c.end,
             "content_hash": doc.content_hash, "text": c.text, "vector": np.asarray(v, dtype=np.float32).tolist()}
            for c, v in zip(chunks, vectors)]
    if bm25:
        for row, terms in zip(rows, fts_terms([c.text for c in chunks])):
            row["terms"] = terms
    return rows


def document_rows(doc: Document, chunks: int, now: float) -> list[dict]:
    """The rows of `qa_documents` for a document: its head (part 0, the commit marker) first, then its parts."""
    texts = [doc.text[at:at + PART_CHARS] for at in range(0, len(doc.text), PART_CHARS)] or [""]
    return [{"id": row_key(doc.source, i), "source": doc.source, "part": i, "parts": len(texts),
             "content_hash": doc.content_hash, "chunks": chunks, "indexed_at": now, "text": text,
             "placeholder": PLACEHOLDER} for i, text in enumerate(texts)]


def literal(values: list[str] | list[int]) -> str:
    """A Milvus filter list literal; JSON string escapes are Milvus's too."""
    return "[" + ",".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def drop_collections(client) -> None:
    """Drop the four collections: the index starts afresh."""
    for name in COLLECTIONS:
        if client.has_collection(name):
            client.drop_collection(name)
