"""qa.ui.uploads: the upload status, which the chat shows as Markdown, shows each file name as it is: no link, no
markup, and the characters that reorder text (U+202E) made visible."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

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
