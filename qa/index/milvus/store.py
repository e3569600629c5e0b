"""The index on Milvus (Milvus Lite file or server): the same contract as the local store (qa.index.interface).

A write replaces a document in an order that keeps the collections usable at every step, so a crash
mid-refresh loses nothing that the next refresh does not repair:

1. the sources being written are recorded in `qa_meta` ("pending");
2. their document heads (the commit markers) are deleted, so readers and the next refresh see them
   as not indexed; then their chunks, text parts and file signatures, by a filter on the source;
3. the new chunks are inserted, then the text parts, then the heads, last;
4. "pending" is cleared.

Readers only return chunks whose document head is there with the same content hash, so a half-written
document is invisible. The next write (and, for a Milvus Lite file, which one process holds at a time,
the next open) deletes what a crashed write left of documents without a head.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qa.index.milvus import integrity
from qa.index.milvus import schema as ms
from qa.errors import IndexError_
from qa.index.milvus.search import MilvusSearches
from qa.index.store import DocumentInfo, IndexMismatchError, IndexSpec
from qa.types import Chunk, Document, Signature
from qa.index.vectors import choose_kind

log = logging.getLogger(__name__)

INSERT_ROWS = 512  # rows a request: well under gRPC's 64 MB with 65 KB texts
SCAN_ROWS = 1000  # rows a page when a whole collection is read
SCHEMA_VERSION = 2  # of these collections; part of the spec an index must match


class MilvusStore(MilvusSearches):
    """Open with `MilvusStore.open(uri, spec)`."""

    def __init__(self, uri: str, spec: IndexSpec, client, bm25: bool, index_type: str) -> None:
        self.uri = self.index_dir = uri  # index_dir: what messages name as where the index lives
        self.spec, self.client, self.bm25 = spec, client, bm25
        self.index_type = index_type  # "auto" follows the corpus size, as locally

    @classmethod
    def open(cls, uri: str, spec: IndexSpec, index_type: str = "auto", need_bm25: bool = True) -> MilvusStore:
        """Connect and open (making) the collections; IndexMismatchError for another spec, IndexDamagedError for damage."""
        if ms.is_lite(uri):
            integrity.check_files(uri)
        client = ms.connect(uri)
        try:
            with ms.milvus_errors(uri, "open the index"):
                bm25 = ms.server_has_bm25(client)
                if need_bm25 and not bm25:
                    raise IndexError_(f"the Milvus server at {uri} has no BM25 (it needs Milvus 2.5 or later): use "
                                      "--retrieval dense (QA_RETRIEVAL=dense) with it, or a Milvus 2.5+ server")
                made = ms.create_collections(client, spec.dimension, bm25)
                store = cls(uri, spec, client, bm25, index_type)
                store._check_spec()
                if ms.is_lite(uri):  # one process holds the file: no write can be under way elsewhere
                    integrity.on_open(store, made)
        except BaseException:
            ms.disconnect(client, uri)
            raise
        return store

    def _check_spec(self) -> None:
        """Record the spec in a new index; IndexMismatchError, with how to rebuild, when it differs."""
        wanted = {**asdict(self.spec), "milvus_schema_version": SCHEMA_VERSION}
        built = self._meta("spec")
        if built is None:
            self._set_meta("spec", json.dumps(wanted, sort_keys=True))
            return
        built = json.loads(built)
        if built != wanted:
            diff = ", ".join(f"{k}: {built.get(k)!r} -> {v!r}" for k, v in wanted.items() if built.get(k) != v)
            raise IndexMismatchError(f"the Milvus index at {self.uri} was built with other settings ({diff}): "
                                     f"rebuild it with `qa index --rebuild --store {self.uri}`", corpus=self.corpus())

    # ---- meta -----------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        rows = self.client.query(ms.META, filter=f"id == {json.dumps(key)}", output_fields=["value"])
        return rows[0]["value"] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self.client.upsert(ms.META, [{"id": key, "value": value, "placeholder": ms.PLACEHOLDER}])

    def corpus(self) -> Path | None:
        """The corpus folder this index holds, or None when it has not recorded one."""
        with ms.milvus_errors(self.uri, "read the index"):
            held = self._meta("corpus")
        return Path(held) if held else None

    def record_corpus(self, corpus: Path) -> None:
        """Record the corpus folder this index holds (absolute: a server has no folder to be relative to)."""
        with ms.milvus_errors(self.uri, "write the index"):
            self._set_meta("corpus", str(Path(corpus).resolve()))

    # ---- reading --------------------------------------------------------------------------------

    def _scan(self, collection: str, filter: str, fields: list[str]) -> list[dict]:
        """Every row that matches, page by page: a query alone stops at 16,384 rows."""
        rows: list[dict] = []
        with ms.milvus_errors(self.uri, "read the index"):
            pages = self.client.query_iterator(collection, batch_size=SCAN_ROWS, filter=filter, output_fields=fields)
            try:
                while page := pages.next():
                    rows += page
            finally:
                pages.close()
        return rows

    def _query(self, collection: str, filter: str, fields: list[str]) -> list[dict]:
        """The rows that match a filter that picks a few, by key or source."""
        with ms.milvus_errors(self.uri, "read the index"):
            return self.client.query(collection, filter=filter, output_fields=fields)

    def _heads(self, sources: list[str] | None = None) -> list[dict]:
        """The head rows of these documents (with their first part of text), or of all (without)."""
        if sources is None:
            return self._scan(ms.DOCUMENTS, "part == 0", ["source", "content_hash", "chunks", "indexed_at"])
        fields = ["source", "content_hash", "chunks", "indexed_at", "parts", "text"]
        return [row for at in range(0, len(sources), 500) for row in
                self._query(ms.DOCUMENTS, f"part == 0 and source in {ms.literal(sources[at:at + 500])}", fields)]

    def documents(self, limit: int | None = None) -> dict[str, DocumentInfo]:
        """The indexed documents by source, in order of source; all of them, or the first `limit`."""
        heads = sorted(self._heads(), key=lambda r: r["source"])[:limit]
        return {r["source"]: DocumentInfo(r["source"], r["content_hash"], r["chunks"], r["indexed_at"]) for r in heads}

    def summary(self) -> tuple[int, int, float | None]:
        """(documents, chunks, when a document was last indexed)."""
        heads = self._heads()
        return len(heads), sum(r["chunks"] for r in heads), max((r["indexed_at"] for r in heads), default=None)

    def content_hash(self, source: str) -> str | None:
        """The hash of an indexed document's file as it was indexed, or None."""
        heads = self._heads([source])
        return heads[0]["content_hash"] if heads else None

    def document_text(self, source: str) -> str | None:
        """The cleaned text of an indexed document, its parts joined; None when it is not (wholly) indexed."""
        heads = self._heads([source])
        if not heads:
            return None
        parts = sorted(self._query(ms.DOCUMENTS, f"source in {ms.literal([source])}", ["part", "text"]),
                       key=lambda r: r["part"])
        if [p["part"] for p in parts] != list(range(heads[0]["parts"])):
            return None
        return "".join(p["text"] for p in parts)

    def document_heads(self, sources: list[str], chars: int) -> dict[str, str]:
        """The first `chars` characters of each of these indexed documents, by source."""
        return {r["source"]: r["text"][:chars] for r in self._heads(list(sources))}

    def file_stats(self) -> dict[str, Signature]:
        """The signature each indexed file had when its hash was last checked."""
        rows = self._scan(ms.FILES, "id >= 0", ["source", "size", "mtime_ns", "ctime_ns"])
        return {r["source"]: (r["size"], r["mtime_ns"], r["ctime_ns"]) for r in rows}

    def file_stat(self, source: str) -> Signature | None:
        """`file_stats` for one file."""
        rows = self._query(ms.FILES, f"id == {ms.row_key(source)}", ["size", "mtime_ns", "ctime_ns"])
        return (rows[0]["size"], rows[0]["mtime_ns"], rows[0]["ctime_ns"]) if rows else None

    def record_file_stats(self, stats: list[tuple[str, Signature]]) -> None:
        """Remember the signatures of files whose content matches the index."""
        rows = [{"id": ms.row_key(s), "source": s, "size": sig[0], "mtime_ns": sig[1], "ctime_ns": sig[2],
                 "placeholder": ms.PLACEHOLDER} for s, sig in stats]
        with ms.milvus_errors(self.uri, "write the index"):
            for at in range(0, len(rows), INSERT_ROWS):
                self.client.upsert(ms.FILES, rows[at:at + INSERT_ROWS])

    def chunk_count(self) -> int:
        """How many chunks are stored (a write under way counts its new ones)."""
        with ms.milvus_errors(self.uri, "read the index"):
            return int(self.client.query(ms.CHUNKS, filter="", output_fields=["count(*)"])[0]["count(*)"])

    # ---- writing --------------------------------------------------------------------------------

    def write(self, documents: list[tuple[Document, list[Chunk], np.ndarray]], removed: list[str] = ()) -> None:
        """Replace these documents' chunks and drop the removed ones; the heads go in last."""
        sources = [*removed, *(d.source for d, _, _ in documents)]
        if not sources:
            return
        now = time.time()
        with ms.milvus_errors(self.uri, "write the index"):
            self._repair()
            self._set_meta("pending", json.dumps(sources))
            self._delete(sources)
            chunk_rows, parts, heads = [], [], []
            for doc, chunks, vectors in documents:
                chunk_rows += ms.chunk_rows(doc, chunks, vectors, self.bm25)
                head, *rest = ms.document_rows(doc, len(chunks), now)
                parts += rest
                heads.append(head)
            for collection, rows in ((ms.CHUNKS, chunk_rows), (ms.DOCUMENTS, parts), (ms.DOCUMENTS, heads)):
                for at in range(0, len(rows), INSERT_ROWS):
                    self.client.insert(collection, rows[at:at + INSERT_ROWS])
            self._set_meta("pending", "[]")

    def _delete(self, sources: list[str]) -> None:
        """Delete these documents' rows, heads first, by a filter on the source."""
        for at in range(0, len(sources), 500):
            part = ms.literal(sources[at:at + 500])
            self.client.delete(ms.DOCUMENTS, filter=f"part == 0 and source in {part}")
            self.client.delete(ms.CHUNKS, filter=f"source in {part}")
            self.client.delete(ms.DOCUMENTS, filter=f"source in {part}")
            self.client.delete(ms.FILES, filter=f"source in {part}")

    def _repair(self) -> None:
        """Delete what a crashed write left of the documents it had not finished (those without a head)."""
        pending = json.loads(self._meta("pending") or "[]")
        if not pending:
            return
        done = {r["source"] for r in self._heads(pending)}
        unfinished = [s for s in pending if s not in done]
        log.warning("repairing the Milvus index at %s after an interrupted write: %d document(s) to redo",
                    self.uri, len(unfinished))
        if unfinished:
            self._delete(unfinished)
        self._set_meta("pending", "[]")

    def save(self) -> None:
        """Flush, and move the dense index to the kind its size calls for (as the local store does)."""
        with ms.milvus_errors(self.uri, "save the index"):
            self._repair()
            self.client.flush(ms.CHUNKS)
            current = self._meta("dense_index") or "flat"
            count = self.chunk_count()
            want = choose_kind(count, self.index_type, current)
            if want != current:
                self.client.release_collection(ms.CHUNKS)
                self.client.drop_index(ms.CHUNKS, "vector")
                index = self.client.prepare_index_params()
                index.add_index("vector", **ms.dense_index(want, count))
                self.client.create_index(ms.CHUNKS, index)
                self.client.load_collection(ms.CHUNKS)
                self._set_meta("dense_index", want)
            if ms.is_lite(self.uri):
                integrity.record_files(self.uri, count)

    def close(self) -> None:
        """Close the connection (and free a Milvus Lite file for other processes, recording its files' checksums)."""
        if self.client is not None:
            chunks = self.chunk_count() if ms.is_lite(self.uri) else 0
            if ms.disconnect(self.client, self.uri):
                integrity.record_files(self.uri, chunks)
            self.client = None

    def clear(self) -> None:
        """Remove every document (for a rebuild): the collections are made afresh, the spec kept."""
        with ms.milvus_errors(self.uri, "clear the index"):
            corpus = self._meta("corpus")
            ms.drop_collections(self.client)
            integrity.forget_files(self.uri)
            ms.create_collections(self.client, self.spec.dimension, self.bm25)
            self._check_spec()
            if corpus:
                self._set_meta("corpus", corpus)
