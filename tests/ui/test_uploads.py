"""qa.ui.uploads: questions are answered while an upload is embedded, without waiting for it; the upload status,
which the chat shows as Markdown, shows each file name as it is: no link, no markup, and the characters that
reorder text (U+202E) made visible."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from qa.models.embedder import Embedder
from qa.pipeline import Assistant
from qa.ui.pages import documents_panel
from qa.ui.uploads import add_documents

LINK = "[click here](https\u2044evil.example\u2044login).txt"
NAMES = [LINK, "![x](y).md", "<b>bold<b> `code` *em* $x$ <img src=x onerror=alert(1)>.md", "a@b.example.md",
         "www.evil.example.md", "invoice\u202eelif.md"]


def rendered(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


@pytest.fixture
def assistant(tiny_corpus: Path, tmp_path: Path, embedder) -> Assistant:
    a = Assistant(tiny_corpus, tmp_path / "index")
    a.embedder = embedder
    a.index()
    return a


def test_upload_status_shows_file_names_as_they_are(assistant: Assistant, tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    sent.mkdir()
    paths = []
    for i, name in enumerate(NAMES):
        (sent / name).write_text(f"Note {i}: the ferry leaves at {i + 6} o'clock.", encoding="utf-8")
        paths.append(sent / name)
    (sent / "[evil](x).exe").write_text("not a document", encoding="utf-8")  # refused: its name is shown too
    message = add_documents(assistant, [*paths, sent / "[evil](x).exe"])
    assert message.count("- Added ") == len(NAMES), message
    html = rendered(message)
    for tag in ("<a", "<img", "<b>", "<code>", "<em>"):
        assert tag not in html, html
    text = html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    for name in NAMES[:-1]:
        assert f"Added {name} as .uploads/{name} (1 chunks)" in text
    assert "Added invoice<U+202E>elif.md as .uploads/invoice<U+202E>elif.md" in text
    assert "\u202e" not in message
    assert "Refused [evil](x).exe: it is not a supported type" in text
    again = add_documents(assistant, [paths[0]])  # the same bytes again: "uploaded already"
    assert f"{LINK} was uploaded already" in rendered(again).replace("&lt;", "<").replace("&gt;", ">")


def test_the_documents_panel_shows_a_reordering_character(assistant: Assistant, tmp_path: Path) -> None:
    path = tmp_path / "invoice\u202eelif.md"
    path.write_text("The invoice is due in May.", encoding="utf-8")
    add_documents(assistant, [path])
    panel = documents_panel(assistant)
    assert ">.uploads/invoice&lt;U+202E&gt;elif.md</a>" in panel and "\u202e" not in panel


def test_questions_are_answered_while_an_upload_of_thousands_of_chunks_is_embedded(
        tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    """The issue's 4 MB upload took minutes to embed, and questions waited for it: the embedder's lock was taken
    back by the indexing thread batch after batch. A question must not wait for any of it: here the embedder's
    batches are made long (1,024 chunks, several seconds each), so that waiting for even one would show against
    the bound (a quarter of the indexing's time, room for a loaded machine; each question takes well under a
    second when nothing else runs)."""
    # Short chunks: thousands of them, embedded in under a minute on two cores.
    a = Assistant(tiny_corpus, tmp_path / "index", reader_model=reader_model, answer_threshold=0.0, chunk_words=20,
                  chunk_max_words=30, chunk_overlap_words=5)
    a.embedder = Embedder(batch_size=1024)
    question = "Who was the last keeper of the lighthouse?"
    assert a.ask(question).source == "lighthouse.txt"  # the models are loaded and the corpus indexed
    rng = random.Random(0)
    upload = tmp_path / "ferry-log.txt"
    upload.write_text(" ".join(
        f"Ferry {i} left the {rng.choice(['north quay', 'south quay', 'old pier'])} at {rng.randrange(5, 23)}:"
        f"{rng.randrange(60):02d} with {rng.randrange(4, 300)} passengers aboard." for i in range(4000)),
        encoding="utf-8")
    done: dict[str, str] = {}
    indexing = threading.Thread(target=lambda: done.update(message=add_documents(a, [upload])))
    started = time.monotonic()
    indexing.start()
    waits = []
    while indexing.is_alive():
        asked = time.monotonic()
        answer = a.ask(question)
        waits.append(time.monotonic() - asked)
        assert answer.source == "lighthouse.txt"
    took = time.monotonic() - started
    assert "Added ferry-log.txt as .uploads/ferry-log.txt (2000 chunks)" in done["message"]
    assert len(waits) >= 4 and max(waits) < took / 4, (max(waits), took, len(waits))
