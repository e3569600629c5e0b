"""Find the documents under a corpus folder and read each into a `Document` of clean text."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.cleaning import clean_text
from qa.errors import CorpusError
from qa.ingest.extraction import extract_text
from qa.types import Document, Signature

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
UNSTRUCTURED_SUFFIXES = (".txt", ".pdf")  # no markup says where a paragraph ends
# Names never read: hidden entries, and the lock file Word keeps beside an open document ("~$report.docx").
SKIPPED_PREFIXES = (".", "~$")
# Bump when extraction or cleaning changes the text a file gives, so that older indexes are rebuilt.
CLEANING_VERSION = 6
TITLE_MAX_CHARS = 200
# Documents added from the chat live in a folder of the index's own and are cited under this prefix, which no
# corpus file can have (hidden entries are never read): an upload cannot clash with a file of the folder.
UPLOADS_PREFIX = ".uploads/"


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    source: str
    reason: str


def signature(stat: os.stat_result) -> Signature:
    """What shows that a file changed without reading it: its size, modification time and status-change
    time. The last is the kernel's own: `cp -p`, `touch -r` or a restored mtime cannot set it back."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


@dataclass(frozen=True)
class CorpusFile:
    """A supported file under the corpus: where it is, the name it is cited by, and its signature."""

    location: str  # a string: making a Path of each of 100k files would cost a second per scan
    source: str
    signature: Signature

    @property
    def path(self) -> Path:
        """The file's path."""
        return Path(self.location)


def is_document_name(name: str) -> bool:
    """Whether a file of this name is read as a document: a supported type, neither hidden nor a lock file."""
    return not name.startswith(SKIPPED_PREFIXES) and os.path.splitext(name)[1].lower() in SUFFIXES


def size_problem(size: int, max_bytes: int | None) -> str | None:
    """Why a file of `size` bytes is not read ("is larger than the limit of 20 MB"), or None."""
    if max_bytes is not None and size > max_bytes:
        limit = f"{max_bytes / 2**20:g} MB" if max_bytes >= 2**20 else f"{max_bytes:,} bytes"
        return f"is larger than the limit of {limit} (QA_MAX_FILE_BYTES)"
    return None


def find_files(corpus: Path, unlisted: list[Skipped] | None = None, uploads: Path | None = None) -> list[CorpusFile]:
    """Every supported file under `corpus`, sorted; then those directly in `uploads`, cited under UPLOADS_PREFIX.

    Hidden entries, Office lock files ("~$report.docx"), folder links and links out are skipped, and so,
    with a warning, are folders that cannot be listed (added to `unlisted`, named with a trailing "/").
    """
    files = _find_files(corpus, unlisted)
    if uploads is not None and Path(uploads).is_dir():
        # Only what the chat wrote there: plain files, no links, no sub-folders.
        files += sorted((CorpusFile(e.path, UPLOADS_PREFIX + e.name, signature(e.stat()))
                         for e in os.scandir(uploads) if is_document_name(e.name) and e.is_file(follow_symlinks=False)),
                        key=lambda f: f.source)
    return files


def document_path(corpus: Path, uploads: Path, source: str) -> Path:
    """The file a source names: an upload's in the uploads folder, any other under the corpus."""
    if source.startswith(UPLOADS_PREFIX):
        return Path(uploads) / source[len(UPLOADS_PREFIX):]
    return Path(corpus) / source


def _find_files(corpus: Path, unlisted: list[Skipped] | None) -> list[CorpusFile]:
    root = _root(corpus)
    prefix = len(str(root).rstrip(os.sep)) + 1
    found: list[tuple[os.DirEntry, str]] = []
    links: list[tuple[os.DirEntry, str]] = []
    folders = [str(root)]
    # os.scandir and string names, not Path.rglob and relative_to: at 100k files Path objects alone cost seconds.
    while folders:
        folder = folders.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:  # no permission, a path too long to name: the rest of the corpus is still read
            if folder == str(root):
                raise CorpusError(f"the corpus folder {corpus} cannot be read: {exc.strerror}") from exc
            skipped = Skipped(folder[prefix:].replace(os.sep, "/") + "/", f"cannot be read: {exc.strerror}")
            log.warning("skipping %s: it %s", skipped.source, skipped.reason)
            if unlisted is not None:
                unlisted.append(skipped)
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(SKIPPED_PREFIXES):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif is_document_name(entry.name) and entry.is_file():
                    source = entry.path[prefix:].replace(os.sep, "/")
                    (links if entry.is_symlink() else found).append((entry, source))
    seen = {entry.path for entry, _ in found}
    for entry, source in sorted(links, key=lambda link: link[1]):
        target = Path(entry.path).resolve()  # a link to a file found already is that file, read once
        if not target.is_relative_to(root):
            log.warning("skipping %s: it links outside the corpus", source)
        elif str(target) not in seen:
            seen.add(str(target))
            found.append((entry, source))
    files = []
    for entry, source in found:
        try:
            stat = entry.stat()  # follows a link, so a link's signature is its target's
        except OSError:  # gone since the listing
            continue
        files.append(CorpusFile(entry.path, source, signature(stat)))
    return sorted(files, key=lambda f: f.source)


@functools.lru_cache(maxsize=64)
def _root(corpus: Path) -> Path:
    return Path(corpus).resolve()


def source_name(corpus: Path, path: Path) -> str:
    """The file's name relative to the corpus root, as cited in answers."""
    root = _root(corpus)
    path = Path(path)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # given through another route to the same folder (a link, "..")
        return path.resolve().relative_to(root).as_posix()


def file_hash(data: bytes) -> str:
    """The content hash the index keeps per document."""
    return hashlib.sha256(data).hexdigest()


def read_document(corpus: Path, path: Path, max_bytes: int | None = None,
                  source: str | None = None) -> Document | Skipped:
    """Read and clean one file, cited as `source` (by default its path under the corpus); a file that cannot
    be used comes back as `Skipped` with the reason."""
    source = source or source_name(corpus, path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(source, f"cannot be read: {exc.strerror}")
    return parse_document(source, path.suffix.lower(), data, max_bytes)


def parse_document(source: str, suffix: str, data: bytes, max_bytes: int | None = None,
                   max_unpacked_bytes: int | None = None, max_chars: int | None = None) -> Document | Skipped:
    """A file's bytes, already read, as a `Document` of clean text, or `Skipped` with the reason.

    Reading stops at the limits on the unpacked size and the text (`extract_text`); the time and memory it
    takes are bounded only in a worker process (`qa.ingest.bounded`).
    """
    if too_large := size_problem(len(data), max_bytes):
        return Skipped(source, too_large)
    try:
        raw = extract_text(suffix, data, max_unpacked_bytes, max_chars)
    except ValueError as exc:
        return Skipped(source, str(exc))
    text = clean_text(raw, rejoin_paragraphs=suffix in UNSTRUCTURED_SUFFIXES)
    if not text:
        return Skipped(source, "holds no text")
    return Document(source=source, text=text, content_hash=file_hash(data))


def document_title(text: str) -> str | None:
    """A document's title for display: its first line when that reads as a heading, else None.

    A heading is short and does not end like a sentence; Markdown's "#" marks are dropped.
    """
    line = text.lstrip().split("\n", 1)[0].strip().lstrip("#").strip()
    if not line or len(line) > TITLE_MAX_CHARS or line.endswith((".", ",", ";", ":")):
        return None
    return line
