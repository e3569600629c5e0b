"""Documents added from the chat: checked by the rules `qa.ingest.documents` owns, kept in the index's own uploads
folder (never in the folder the user pointed at), and indexed with the corpus."""

from __future__ import annotations

from pathlib import Path

from qa.atomic import atomic_write_bytes
from qa.ingest.documents import SUFFIXES, UPLOADS_PREFIX, Skipped, is_document_name, size_problem
from qa.ui.render import markdown_name


def size_text(n: int) -> str:
    """A byte count for people: "20 MB", "4 KB", "12 bytes"."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def check_upload(assistant, path: Path) -> tuple[str, bytes] | str:
    """(file name, bytes) of an acceptable upload, or the reason it is refused."""
    name, limit, folder = path.name, assistant.settings.max_file_bytes, assistant.settings.uploads_dir
    # A name is all an upload brings: it must name one file in the uploads folder and nothing else.
    if not name or any(c in name for c in "/\\\0") or any(ord(c) < 32 for c in name) or len(name.encode()) > 255:
        return "its name is not a plain file name"
    if Path(name).suffix.lower() not in SUFFIXES:
        return f"it is not a supported type (use {', '.join(SUFFIXES)})"
    if not is_document_name(name):
        return "its name is a hidden or lock file's, which are never read"
    target = folder / name
    if target.is_symlink() or target.is_dir():
        return "it would not land as a plain file in the uploads folder"
    size = path.stat().st_size
    if too_large := size_problem(size, limit):
        return f"it {too_large}; it is {size_text(size)}"
    if size == 0:
        return "it is empty"
    data = path.read_bytes()
    # Never replace a document: anyone with the page can upload.
    if target.exists() and target.read_bytes() != data:
        return f"a document named {markdown_name(name)} was uploaded already: rename the file to add it"
    # Read once, within the reading limits, in a worker process; the index refresh that follows reuses it.
    doc = assistant.read_upload(UPLOADS_PREFIX + name, path)
    if isinstance(doc, Skipped):
        return f"it {doc.reason}"
    return name, data


def add_documents(assistant, paths: list[str | Path], progress=None) -> str:
    """Check uploads, write the good ones into the uploads folder atomically, refresh the index; a message in
    Markdown, where each file name shows as it is (`markdown_name`)."""
    accepted, lines = [], []
    for p in paths:
        checked = check_upload(assistant, Path(p))
        if isinstance(checked, str):
            lines.append(f"Refused {markdown_name(Path(p).name)}: {checked}.")
        elif any(name == checked[0] for name, _ in accepted):
            lines.append(f"Refused {markdown_name(checked[0])}: another file of this upload has that name; rename "
                         "one to add both.")
        else:
            accepted.append(checked)
    if not accepted:
        return "\n".join(f"- {line}" for line in lines) or "No files were given."
    folder = assistant.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in accepted:
        if not (folder / name).exists():  # else the same bytes are there already (check_upload)
            atomic_write_bytes(folder / name, data)
    report = assistant.index(progress=progress)
    skipped = {s.source: s.reason for s in report.skipped}
    docs = assistant.documents()
    for name, _ in accepted:
        source, shown = UPLOADS_PREFIX + name, markdown_name(name)
        if source in skipped:
            lines.append(f"Refused {shown}: it {skipped[source]}.")
        elif source in report.added or source in report.updated:
            verb = "Added" if source in report.added else "Updated"
            lines.append(f"{verb} {shown} as {markdown_name(source)} ({docs[source].chunks} chunks); it can be asked "
                         "about now.")
        else:
            lines.append(f"{shown} was uploaded already, unchanged.")
    return "\n".join(f"- {line}" for line in lines)
