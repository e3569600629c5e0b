"""Builds and refreshes the store: documents -> chunking -> embedder -> store. Only changed files are redone."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.ingest.bounded import ParseLimits, parse_bounded
from qa.ingest.chunking import CHUNKING_VERSION, chunk_document
from qa.config import Settings
from qa.ingest.documents import (CLEANING_VERSION, UPLOADS_PREFIX, CorpusFile, Skipped, document_path, file_hash,
                          find_files, signature)
from qa.models.embedder import Embedder
from qa.errors import CorpusError, IndexError_
from qa.index.store import DocumentInfo, IndexMismatchError, IndexSpec, OtherCorpusError, Store, delete_index
from qa.index.interface import IndexStore
from qa.types import Chunk, Document, Signature

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files to do, current file)
BATCH_CHUNKS = 256  # chunks embedded and committed together; bounds memory on large corpora
# A file modified this recently may change again within the file system's timestamp resolution without its
# signature showing it, so its signature is not trusted yet: it is hashed again next time.
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


def open_store(settings: Settings, embedder: Embedder) -> IndexStore:
    """Open the index for these settings; one built with other settings is discarded, with a warning.

    The one place the backend is chosen: `settings.store` is "local" or a Milvus URI. A Milvus index
    built with other settings is refused instead (it may serve others): `qa index --rebuild` drops it."""
    spec = index_spec(settings, embedder)
    if settings.store != "local":
        from qa.index.milvus.store import MilvusStore

        return MilvusStore.open(settings.store, spec, index_type=settings.index_type,
                                need_bm25=settings.retrieval != "dense")
    try:
        return Store.open(settings.index_dir, spec, index_type=settings.index_type)
    except IndexMismatchError as exc:
        if exc.corpus is not None and exc.corpus != settings.corpus:
            raise other_corpus_error(settings, exc.corpus) from exc
        log.warning("%s: rebuilding it", exc)
        delete_index(settings.index_dir)
        return Store.open(settings.index_dir, spec, index_type=settings.index_type)


def discard_index(settings: Settings) -> None:
    """Delete the index these settings name, so that the next open starts it afresh."""
    if settings.store == "local":
        delete_index(settings.index_dir)
    else:
        from qa.index.milvus.integrity import drop_index

        drop_index(settings.store)


def check_corpus(corpus: Path) -> None:
    """Raise CorpusError unless `corpus` is a folder."""
    if not corpus.exists():
        raise CorpusError(f"the corpus folder {corpus} does not exist: give the folder that holds the documents "
                          "(--corpus, or QA_CORPUS)")
    if not corpus.is_dir():
        raise CorpusError(f"the corpus {corpus} is a file, not a folder: give the folder that holds the documents")


def other_corpus_error(settings: Settings, held: Path) -> OtherCorpusError:
    """Refreshing would drop every document of the other folder: a forgotten --corpus must not wipe an index."""
    corpus, index_dir = settings.corpus, settings.index_dir
    where = f"--index-dir {index_dir}" if settings.store == "local" else f"--store {settings.store}"
    index_dir = index_dir if settings.store == "local" else settings.store
    return OtherCorpusError(
        f"the index at {index_dir} holds the documents of {held}, not of {corpus}. Give --corpus {held}, or "
        f"another folder for this corpus's index, or rebuild this index for {corpus} with "
        f"`qa index --corpus {corpus} {where} --rebuild`")


def refresh(store: IndexStore, embedder: Embedder, settings: Settings, rebuild: bool = False,
            progress: Progress | None = None, parsed: dict[str, Document] | None = None) -> IndexReport:
    """Bring the index in line with the corpus folder: embed new and changed files, drop removed ones.

    Files are read in a worker process, within the reading limits (`qa.ingest.bounded`); `parsed` holds files read
    already (an upload, checked before it was saved), used while the file still holds what was read.
    """
    check_corpus(settings.corpus)
    try:
        return _refresh(store, embedder, settings, rebuild, progress, parsed or {})
    except (sqlite3.OperationalError, PermissionError) as exc:
        raise IndexError_(f"cannot write the index at {settings.index_dir} ({exc}): make it writable, "
                          "or give another folder for the index") from exc


def claim_corpus(store: IndexStore, settings: Settings, rebuild: bool) -> None:
    """Make the index this corpus folder's: emptied for a rebuild, refused when it holds another folder's."""
    held = store.corpus()
    if rebuild:
        store.clear()
    elif held is not None and held != settings.corpus:
        raise other_corpus_error(settings, held)
    if held != settings.corpus:
        store.record_corpus(settings.corpus)


@dataclass
class CorpusScan:
    """The corpus folder (with the uploads) against the index."""

    todo: list[CorpusFile]  # new, or with another signature than when their content last matched: to look at
    unchanged: int  # the same signature as when their content last matched: not read again
    removed: list[str]  # indexed, and gone from a folder that could be listed
    unlisted: list[Skipped]  # folders that could not be listed: their documents stay indexed


def scan_corpus(settings: Settings, known: dict[str, DocumentInfo], stats: dict[str, Signature]) -> CorpusScan:
    """What a refresh has to do: the one way both indexers (this one and `qa.index.ray_indexer`) find the files."""
    unlisted: list[Skipped] = []
    files = find_files(settings.corpus, unlisted, settings.uploads_dir)
    present = {f.source for f in files}

    def in_corpus(sources) -> bool:  # uploads aside
        return any(not s.startswith(UPLOADS_PREFIX) for s in sources)

    if in_corpus(known) and not in_corpus(present) and not unlisted:  # an unmounted or emptied folder must not empty the index
        raise CorpusError(f"the corpus folder {settings.corpus} holds no documents, but its index holds {len(known)}: "
                          "the index is left as it was. To empty it, run `qa index --rebuild`")
    # A folder that cannot be listed now may be readable again later: its documents stay until then.
    listed = {s for s in known if not any(s.startswith(folder.source) for folder in unlisted)}
    todo = [f for f in files if f.source not in known or stats.get(f.source) != f.signature]
    return CorpusScan(todo, len(files) - len(todo), sorted(listed - present), unlisted)


def _refresh(store: IndexStore, embedder: Embedder, settings: Settings, rebuild: bool,
             progress: Progress | None, parsed: dict[str, Document]) -> IndexReport:
    claim_corpus(store, settings, rebuild)
    known = store.documents()
    scan = scan_corpus(settings, known, store.file_stats())
    report = IndexReport(unchanged=scan.unchanged, removed=scan.removed)
    todo: list[CorpusFile] = []
    checked: list[CorpusFile] = []  # files now known to match the index, whose signatures to remember
    for file in scan.todo:
        if file.source not in known:
            todo.append(file)  # new: read once, below
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
    report.skipped += scan.unlisted
    if report.removed:
        store.write([], removed=report.removed)

    batch: list[tuple[Document, list[Chunk]]] = []
    limits = ParseLimits.of(settings)
    for i, file in enumerate(todo):
        if progress:
            progress(i, len(todo), file.source)
        doc = _reuse(parsed.get(file.source), file) or parse_bounded(file.source, file.path.suffix.lower(),
                                                                     file.path, limits)
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
    store.record_file_stats([(f.source, f.signature) for f in checked if _settled(f.signature)])
    if report.changed:
        store.save()
    report.chunks = store.chunk_count()
    return report


def changed_since_indexed(store: IndexStore, settings: Settings, sources: list[str]) -> bool:
    """Whether any of these indexed files has changed or gone since it was indexed: one stat each, and a
    hash only for a file whose signature was not recorded."""
    return any(_changed(store, settings, source, store.file_stat(source)) for source in dict.fromkeys(sources))


def changed_files(store: IndexStore, settings: Settings, sources: list[str]) -> list[str]:
    """Those of these indexed files that changed or went since they were indexed, as `changed_since_indexed` tells
    it: for many files, with the recorded signatures read at once rather than one query each."""
    recorded = store.file_stats()
    return [source for source in dict.fromkeys(sources) if _changed(store, settings, source, recorded.get(source))]


def _changed(store: IndexStore, settings: Settings, source: str, recorded: Signature | None) -> bool:
    path = document_path(settings.corpus, settings.uploads_dir, source)
    try:
        sig = signature(path.stat())
        if recorded == sig:
            return False
        if file_hash(path.read_bytes()) != store.content_hash(source):
            return True
    except OSError:
        return True
    if _settled(sig):  # a stat will do next time
        store.record_file_stats([(source, sig)])
    return False


def _reuse(doc: Document | None, file: CorpusFile) -> Document | None:
    """`doc`, read before, while the file still holds the bytes it was read from."""
    try:
        return doc if doc is not None and file_hash(file.path.read_bytes()) == doc.content_hash else None
    except OSError:
        return None


def _settled(sig: Signature) -> bool:
    return max(sig[1:]) < time.time_ns() - RACY_SECONDS * 10**9


def _commit(store: IndexStore, embedder: Embedder, batch: list[tuple[Document, list[Chunk]]]) -> None:
    if not batch:
        return
    vectors = embedder.embed([c.text for _, chunks in batch for c in chunks])
    rows, at = [], 0
    for doc, chunks in batch:
        rows.append((doc, chunks, vectors[at:at + len(chunks)]))
        at += len(chunks)
    store.write(rows)
