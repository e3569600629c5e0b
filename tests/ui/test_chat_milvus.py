"""The browser chat (qa.ui.chat) over a Milvus Lite store: answers, citations and the document view come
from Milvus, with the real embedder and the bundled reader."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from tests.ui.test_app import Served, check_cited

from qa.pipeline import Assistant

TINY = Path(__file__).parents[1] / "data" / "tiny"


@pytest.fixture(scope="module")
def milvus_served(tmp_path_factory: pytest.TempPathFactory, trained_reader_model: str):
    """The chat on a copy of tests/data/tiny, indexed into a Milvus Lite file."""
    root = tmp_path_factory.mktemp("milvus-chat")
    shutil.copytree(TINY, root / "corpus")
    assistant = Assistant(corpus=root / "corpus", store=str(root / "qa.db"), reader_model=trained_reader_model)
    assistant.index()
    s = Served(assistant)
    yield s
    s.close()
    assistant.store.close()


def test_the_chat_on_milvus_answers_and_cites_the_right_file(milvus_served: Served) -> None:
    assert type(milvus_served.assistant.store).__name__ == "MilvusStore"
    html, fields = milvus_served.ask("When was the lighthouse built?")
    assert "1871" in fields["text"] and fields["source"] == "lighthouse.txt"
    check_cited(milvus_served.assistant, fields)  # the cited text is Milvus's copy at the answer's offsets
    assert "lighthouse.txt" in html and "<mark>" in html

    _, fields = milvus_served.ask("Who founded the bakery?")
    assert "Ida Rosen" in fields["text"] and fields["source"] == "bakery.md"

    page = httpx.get(milvus_served.url + "document",
                     params={"source": fields["source"], "start": fields["start"], "end": fields["end"]})
    assert page.status_code == 200 and "<mark id='answer'>Ida Rosen</mark>" in page.text
