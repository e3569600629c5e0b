"""Builds and refreshes the store: documents -> chunking -> embedder -> store. Only changed files are redone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qa.chunking import CHUNKING_VERSION, chunk_document
from qa.config import Settings
from qa.documents import CLEANING_VERSION, CorpusFile, Skipped, file_hash, find_files, read_document
from qa.embedder import Embedder
from qa.errors import CorpusError
from qa.store import IndexMismatchError, IndexSpec, Store, delete_index
from qa.types import Chunk, Document

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files to do, current file)
BATCH_CHUNKS = 256  # chunks embedded and committed together; bounds memory on large corpora
# A file modified this recently may change again within the file system's mtime resolution without its
# size or mtime showing it, so its signature is not trusted yet: it is hashed again next time.
RACY_SECONDS = 2


@dataclass
class IndexReport:
    """What a refresh did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0  # in the index afterwards

    @property
    def changed(self) -> bool:
        """Whether the index was written."""
        return bool(self.added or self.updated or self.removed)


def index_spec(settings: Settings, embedder: Embedder) -> IndexSpec:
    """The spec an index must match to be reused with these settings."""
    return IndexSpec(
        embedder=embedder.model_name, dimension=embedder.dimension, chunk_words=settings.chunk_words,
        chunk_max_words=settings.chunk_max_words, chunk_overlap_words=settings.chunk_overlap_words,
        cleaning_version=CLEANING_VERSION, chunking_version=CHUNKING_VERSION,
    )


def open_store(settings: Settings, embedder: Embedder) -> Store:
    """Open the index for these settings; one built with other settings is discarded, with a warning."""
    spec = index_spec(settings, embedder)
    try:
        return Store.open(settings.index_dir, spec, index_type=settings.index_type)
    except IndexMismatchError as exc:
        log.warning("%s: rebuilding it", exc)
        delete_index(settings.index_dir)
        return Store.open(settings.index_dir, spec, index_type=settings.index_type)


def refresh(store: Store, embedder: Embedder, settings: Settings, rebuild: bool = False,
            progress: Progress | None = None) -> IndexReport:
    """Bring the index in line with the corpus folder: embed new and changed files, drop removed ones."""
    corpus = settings.corpus
    if not corpus.is_dir():
        raise CorpusError(f"the corpus folder {corpus} does not exist")
    if rebuild:
        store.clear()
    known = store.documents()
    stats = store.file_stats()
    report = IndexReport()
    todo: list[CorpusFile] = []
    checked: list[CorpusFile] = []  # files now known to match the index, whose signatures to remember
    present: set[str] = set()
    for file in find_files(corpus):
        present.add(file.source)
        if file.source not in known:
            todo.append(file)  # new: read once, below
            continue
        if stats.get(file.source) == (file.size, file.mtime_ns):
            report.unchanged += 1  # same size and mtime as when its content last matched: not read again
            continue
        try:
            digest = file_hash(file.path.read_bytes())
        except OSError as exc:
            report.skipped.append(Skipped(file.source, f"cannot be read: {exc.strerror}"))
            continue
        if known[file.source].content_hash == digest:
            report.unchanged += 1
            checked.append(file)
        else:
            todo.append(file)
    report.removed = sorted(set(known) - present)
    if report.removed:
        store.write([], removed=report.removed)

    batch: list[tuple[Document, list[Chunk]]] = []
    for i, file in enumerate(todo):
        if progress:
            progress(i, len(todo), file.source)
        doc = read_document(corpus, file.path, settings.max_file_bytes)
        if isinstance(doc, Skipped):
            log.warning("skipping %s: it %s", doc.source, doc.reason)
            report.skipped.append(doc)
            if doc.source in known:  # its old text is no longer what the file says
                store.write([], removed=[doc.source])
                report.removed.append(doc.source)
            continue
        (report.updated if doc.source in known else report.added).append(doc.source)
        checked.append(file)
        batch.append((doc, chunk_document(doc, settings.chunk_words, settings.chunk_max_words,
                                          settings.chunk_overlap_words)))
        if sum(len(c) for _, c in batch) >= BATCH_CHUNKS:
            _commit(store, embedder, batch)
            batch = []
    _commit(store, embedder, batch)
    if progress and todo:
        progress(len(todo), len(todo), "")
    settled = time.time_ns() - RACY_SECONDS * 10**9
    store.record_file_stats([(f.source, f.size, f.mtime_ns) for f in checked if f.mtime_ns < settled])
    if report.changed:
        store.save()
    report.chunks = store.chunk_count()
    return report


def _commit(store: Store, embedder: Embedder, batch: list[tuple[Document, list[Chunk]]]) -> None:
    if not batch:
        return
    vectors = embedder.embed([c.text for _, chunks in batch for c in chunks])
    rows, at = [], 0
    for doc, chunks in batch:
        rows.append((doc, chunks, vectors[at:at + len(chunks)]))
        at += len(chunks)
    store.write(rows)
