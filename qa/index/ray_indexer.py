"""Indexing on Ray Data (`qa index --ray [ADDRESS]`): the same chunks and vectors as `qa.index.indexer`, made by
a cluster.

Ray Data reads and cleans the new and changed files and chunks them (`flat_map` tasks), and embeds the
chunks in `map_batches` actors that each load the embedder once. Each task reads its file in a worker
process within the settings' reading limits (`qa.ingest.bounded`), as the local indexer does, so that a hostile
file is skipped with the same reason instead of stalling or exhausting the Ray worker. The driver
gathers each document's chunks and writes whole documents to the store in batches, through the same
`write` as the local indexer, so the store's commit order (chunks, then the document) and crash repair
hold here too.

The files are found as the local indexer finds them (`qa.index.indexer.scan_corpus`): the chat's uploads are
indexed and kept, and the documents of a sub-folder that cannot be listed stay indexed. On a cluster every
worker must see the corpus folder and the uploads folder at the same paths (a shared file system), and the
store should be a Milvus server: only the driver writes to it. Without an address a local Ray is
started, kept small: `ray_workers` + 1 CPUs, a 256 MB object store and no dashboard; it ends with this
process, even one killed outright (`qa.index.ray_session`).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np

from qa.ingest.bounded import ParseLimits, parse_bounded
from qa.ingest.chunking import chunk_document
from qa.config import Settings
from qa.ingest.documents import Skipped, file_hash
from qa.models.embedder import Embedder
from qa.errors import QAError
from qa.index.indexer import BATCH_CHUNKS, IndexReport, _settled, check_corpus, claim_corpus, scan_corpus
from qa.index.ray_session import end_ray_with_this_process
from qa.index.interface import IndexStore
from qa.types import Chunk, Document

log = logging.getLogger(__name__)

OBJECT_STORE_BYTES = 256 * 1024 * 1024  # a local Ray's shared memory: batches of chunks, not a corpus


def read_and_chunk(row: dict, settings: Settings) -> list[dict]:
    """One file -> its chunk rows (the first carries the document's text), or one row saying why there are none."""
    base = {"source": row["source"], "content_hash": "", "doc_text": "", "n_chunks": 0, "seq": 0, "chunk_id": "",
            "start": 0, "end": 0, "text": "", "reason": ""}
    path = Path(row["location"])
    if row["known_hash"]:
        try:
            if file_hash(path.read_bytes()) == row["known_hash"]:
                return [{**base, "kind": "unchanged"}]
        except OSError:
            pass  # the bounded read says why
    # Read in a bounded worker process, as the local indexer reads, so that a hostile file costs this task
    # no more than the reading limits (size, unpacked size, text, CPU time, memory) and is skipped past them.
    doc = parse_bounded(row["source"], path.suffix.lower(), path, ParseLimits.of(settings))
    if isinstance(doc, Skipped):
        return [{**base, "kind": "skipped", "reason": doc.reason}]
    chunks = chunk_document(doc, settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap_words)
    head = {**base, "kind": "document", "content_hash": doc.content_hash, "doc_text": doc.text, "n_chunks": len(chunks)}
    if not chunks:
        return [{**head, "kind": "empty"}]
    return [{**head, "kind": "chunk", "doc_text": doc.text if i == 0 else "", "seq": i, "chunk_id": c.id,
             "start": c.start, "end": c.end, "text": c.text} for i, c in enumerate(chunks)]


class EmbedChunks:
    """A `map_batches` actor: loads the embedder once, then adds a `vector` column to each batch of chunk rows."""

    def __init__(self, model: str, device: str) -> None:
        self.embedder = Embedder(model, device)
        self.embedder.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch with its chunks' unit vectors (zeros for rows that are not chunks)."""
        is_chunk = batch["kind"] == "chunk"
        vectors = np.zeros((len(is_chunk), self.embedder.dimension), dtype=np.float32)
        if is_chunk.any():
            vectors[is_chunk] = self.embedder.embed([str(t) for t in batch["text"][is_chunk]])
        return {**batch, "vector": vectors}


def start_ray(address: str | None, workers: int) -> None:
    """Join the Ray cluster at `address`, or start a small local one."""
    try:
        import ray
    except ImportError as exc:
        raise QAError("--ray needs Ray Data: pip install 'qa[ray]'") from exc
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    for attempt in (1, 2):
        try:
            # A CPU per embedding actor, which holds it, and one for the reading and chunking tasks.
            ray.init(num_cpus=workers + 1, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
            end_ray_with_this_process()  # even when this process is killed outright
            return
        except Exception as exc:  # Ray waits a fixed 30 s for its raylet, which a busy machine can miss
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
            log.warning("a local Ray did not start in time (%s): trying once more", exc)
            ray.shutdown()


def index_with_ray(store: IndexStore, settings: Settings, address: str | None = None, rebuild: bool = False,
                   workers: int | None = None) -> IndexReport:
    """Bring the index in line with the corpus folder, the reading, chunking and embedding done on Ray."""
    import ray

    check_corpus(settings.corpus)
    claim_corpus(store, settings, rebuild)
    known = store.documents()
    scan = scan_corpus(settings, known, store.file_stats())  # the local indexer's: uploads, unlisted folders
    report = IndexReport(removed=scan.removed, unchanged=scan.unchanged, skipped=list(scan.unlisted))
    if report.removed:
        store.write([], removed=report.removed)
    todo = scan.todo
    by_source = {f.source: f for f in todo}
    checked = []
    if todo:
        workers = workers or settings.ray_workers
        start_ray(address, workers)
        items = [{"location": f.location, "source": f.source,
                  "known_hash": known[f.source].content_hash if f.source in known else ""} for f in todo]
        rows = (ray.data.from_items(items, override_num_blocks=min(len(items), 8 * workers))
                .flat_map(partial(read_and_chunk, settings=settings))
                .map_batches(EmbedChunks, fn_constructor_kwargs={"model": settings.embedder_model,
                                                                 "device": settings.device},
                             batch_size=BATCH_CHUNKS, concurrency=workers, batch_format="numpy"))
        writer = _DocumentWriter(store, known, report)
        for batch in rows.iter_batches(batch_size=BATCH_CHUNKS, batch_format="numpy"):
            for i in range(len(batch["kind"])):
                source = str(batch["source"][i])
                if writer.take({k: v[i] for k, v in batch.items()}):
                    checked.append(by_source[source])
        writer.flush()
    store.record_file_stats([(f.source, f.signature) for f in checked if _settled(f.signature)])
    if report.changed:
        store.save()
    report.added.sort()
    report.updated.sort()
    report.chunks = store.chunk_count()
    return report


class _DocumentWriter:
    """Gathers chunk rows, which arrive in any order, into whole documents, and writes them in batches."""

    def __init__(self, store: IndexStore, known: dict, report: IndexReport) -> None:
        self.store, self.known, self.report = store, known, report
        self.partial: dict[str, dict] = {}
        self.ready: list[tuple[Document, list[Chunk], np.ndarray]] = []

    def take(self, row: dict) -> bool:
        """Take one row; True when its file now matches the index (its signature may be remembered)."""
        source, kind = str(row["source"]), str(row["kind"])
        if kind == "unchanged":
            self.report.unchanged += 1
            return True
        if kind == "skipped":
            log.warning("skipping %s: it %s", source, row["reason"])
            self.report.skipped.append(Skipped(source, str(row["reason"])))
            if source in self.known:  # its old text is no longer what the file says
                self.store.write([], removed=[source])
                self.report.removed.append(source)
            return False
        held = self.partial.setdefault(source, {"doc": None, "chunks": {}, "n": int(row["n_chunks"])})
        if kind == "empty" or int(row["seq"]) == 0:
            held["doc"] = Document(source=source, text=str(row["doc_text"]), content_hash=str(row["content_hash"]))
        if kind == "chunk":
            chunk = Chunk(id=str(row["chunk_id"]), source=source, start=int(row["start"]), end=int(row["end"]),
                          text=str(row["text"]))
            held["chunks"][int(row["seq"])] = (chunk, np.asarray(row["vector"], dtype=np.float32))
        if held["doc"] is None or len(held["chunks"]) < held["n"]:
            return False
        del self.partial[source]
        pairs = [held["chunks"][i] for i in range(held["n"])]
        vectors = np.stack([v for _, v in pairs]) if pairs else np.zeros((0, self.store.spec.dimension), np.float32)
        self.ready.append((held["doc"], [c for c, _ in pairs], vectors))
        (self.report.updated if source in self.known else self.report.added).append(source)
        if sum(len(c) for _, c, _ in self.ready) >= BATCH_CHUNKS:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the whole documents gathered so far."""
        if self.ready:
            self.store.write(self.ready)
            self.ready = []
