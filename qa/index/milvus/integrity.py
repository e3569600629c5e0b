"""Damage to a Milvus Lite index, told on open: data files whose bytes changed, and collections that disagree.

Milvus Lite (3) keeps an index as a folder: each collection's rows in Parquet data files, delete files and index
files, never rewritten once written, listed by the collection's `manifest.json`. Two kinds of damage pass
through it unseen:

- changed bytes in a data or index file (random bytes in `qa_chunks`' data file load as wrong vectors); so when
  qa saves or closes the index it records the checksum of every such file its collections list (`CHECKSUMS`,
  in the folder), and opening checks those still there (compaction drops files; files written since are
  checked from the next save on);
- rows lost or kept by one collection and not by another (a damaged `manifest.json` loads `qa_chunks` empty; a
  deleted `qa_documents` is made anew, empty); so opening compares the chunks each document head lists with
  the chunks stored, and `MilvusStore` drops the documents that disagree, for the refresh to embed again.

A Milvus server keeps its own files, and may have other writers: it is not checked.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

from qa.atomic import atomic_write_bytes
from qa.index.milvus import schema as ms
from qa.errors import IndexError_
from qa.index.schema import IndexDamagedError
from qa.index.checksum import file_checksum

log = logging.getLogger("qa.index.milvus.store")

CHECKSUMS = "qa-checksums.json"


def record_files(uri: str, chunks: int) -> None:
    """Record the checksum of each data, delete and index file that the collections of a Milvus Lite folder list
    (whole, then: never rewritten), and the chunks it holds, for the next open to check."""
    folder = Path(uri)
    if not folder.is_dir():
        return  # Milvus Lite 2 keeps one file, its own
    old = _record(folder)[0] or {}
    files = {}
    for path in _listed(folder):
        name = path.relative_to(folder).as_posix()
        files[name] = old.get(name) or file_checksum(path)  # a file checked once keeps its first checksum
    atomic_write_bytes(folder / CHECKSUMS, json.dumps({"chunks": chunks, "files": files}, indent=0).encode())


def _listed(folder: Path) -> list[Path]:
    """The files the collections' manifests list, and the index files built from them; none from a manifest of
    another shape (another Milvus Lite): nothing is recorded that could be told wrongly as damage."""
    found = []
    for manifest in folder.glob("collections/*/manifest.json"):
        try:
            partitions = json.loads(manifest.read_text(encoding="utf-8"))["partitions"]
            for name, part in partitions.items():
                base = manifest.parent / "partitions" / name
                data, deltas = list(part["data_files"]), list(part["delta_files"])
                found += [base / f for f in data + deltas]
                found += [p for f in data for p in (base / "indexes").glob(f"{Path(f).stem}.*.idx")]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return [p for p in found if p.is_file()]


def forget_files(uri: str) -> None:
    """Drop the record: the collections are made afresh, and new files may take old names."""
    (Path(uri) / CHECKSUMS).unlink(missing_ok=True)


def check_files(uri: str) -> None:
    """Raise IndexDamagedError, naming them, when data files of a Milvus Lite folder changed since qa closed it."""
    files, chunks = changed_files(uri)
    if files:
        raise IndexDamagedError(
            f"the Milvus Lite index at {uri} is damaged: {', '.join(files[:3])}{' and more' if files[3:] else ''} "
            f"changed since qa wrote it, so the rows it holds cannot be trusted. Rebuild the index with "
            f"`qa index --rebuild --store {uri}` (every document is embedded again"
            f"{f': {chunks:,} chunks' if chunks else ''}).")


def on_open(store, made: list[str]) -> None:
    """What opening a Milvus Lite index does besides: repair what a crashed write left, drop the documents whose
    collections disagree, and record the checksums of the files written since the last save (at the last exit)."""
    store._repair()
    check_agreement(store, made)
    record_files(store.uri, store.chunk_count())


def check_agreement(store, made: list[str]) -> None:
    """Drop, with the store's own reads and deletes, the documents whose stored chunks disagree with their head (a
    collection lost or damaged), saying so, for the next refresh to embed them again; `made`: the collections
    that opening had to make."""
    if made and len(made) < len(ms.COLLECTIONS):
        log.warning("the Milvus Lite index at %s had lost its %s collection (deleted?): it is made anew, empty",
                    store.uri, " and ".join(made))
    heads = store._heads()
    listed, stored = sum(r["chunks"] for r in heads), store.chunk_count()
    if listed == stored and not made:
        return
    bad, cost = disagreeing(heads, [r["source"] for r in store._scan(ms.CHUNKS, "id >= 0", ["source"])])
    if not bad:
        return
    log.warning("the Milvus Lite index at %s is damaged: its collections disagree (%s holds %d chunks, where %s "
                "lists %d for %d documents). The %d documents whose chunks and head disagree are dropped, and "
                "embedded again by the next refresh (%d chunks)", store.uri, ms.CHUNKS, stored, ms.DOCUMENTS,
                listed, len(heads), len(bad), cost)
    with ms.milvus_errors(store.uri, "repair the index"):
        store._set_meta("pending", json.dumps(bad))
        store._delete(bad)
        store._set_meta("pending", "[]")


def changed_files(uri: str) -> tuple[list[str], int | None]:
    """The recorded files of a Milvus Lite folder whose bytes differ from the record, and the chunks it recorded.
    A recorded file that is gone is not among them: compaction drops files (and lost rows are told apart)."""
    files, chunks = _record(Path(uri))
    if files is None:
        return [], None  # not recorded by this version yet: nothing to check against
    return [name for name, digest in files.items()
            if (Path(uri) / name).is_file() and file_checksum(Path(uri) / name) != digest], chunks


def _record(folder: Path) -> tuple[dict | None, int | None]:
    try:
        record = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
        return dict(record["files"]), record.get("chunks")
    except (OSError, ValueError, KeyError, TypeError):  # none, or unreadable: checked again from the next save
        return None, None


def disagreeing(heads: list[dict], chunk_sources: list[str]) -> tuple[list[str], int]:
    """The sources whose stored chunks are not as many as their document head lists, or have no head; and the
    chunks they make (embedding them again costs that many)."""
    listed = {r["source"]: r["chunks"] for r in heads}
    stored = Counter(chunk_sources)
    bad = sorted(s for s in listed.keys() | stored.keys() if listed.get(s) != stored.get(s, 0))
    return bad, sum(listed.get(s) or stored[s] for s in bad)




def drop_index(uri: str) -> None:
    """Drop the index's collections, so that the next open starts empty (`qa index --rebuild`). A collection that
    Milvus Lite cannot load (a damaged data file) cannot be dropped through it: its folder is removed instead."""
    client = ms.connect(uri)
    try:
        with ms.milvus_errors(uri, "drop the index"):
            ms.drop_collections(client)
        damaged = None
    except IndexError_ as exc:
        damaged = exc
    finally:
        ms.disconnect(client, uri)
    if damaged is not None:
        if not (ms.is_lite(uri) and (Path(uri) / "collections").is_dir()):
            raise damaged
        log.warning("%s: removing the collections' folders from %s instead", damaged, uri)
        for name in ms.COLLECTIONS:
            shutil.rmtree(Path(uri) / "collections" / name, ignore_errors=True)
    forget_files(uri)
