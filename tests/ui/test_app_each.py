"""The chat's document picker and its "Ask every document" tab (qa.ui.each_tab), in Chromium and through the API."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.ui.test_app import ARTIFACTS, Served, _page, _wait_for_replies

from qa.pipeline import Assistant

QUESTION = "Who founded it?"


@pytest.fixture
def served(tiny_corpus: Path, tmp_path: Path, reader_model: str):
    s = Served(Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model,
                         answer_threshold=0.0))
    yield s
    s.close()


def _pick(page, picker: str, *sources: str) -> None:
    """Choose documents in a picker, as a user does: open it, type the name, take the option."""
    box = page.locator(f"{picker} input")
    for source in sources:
        box.click()
        box.fill(source)
        page.get_by_role("option", name=source, exact=True).click()
    page.keyboard.press("Escape")


def _rows(page) -> list[list[str]]:
    """The table's rows as shown, cell by cell."""
    rows = page.locator("#qa-each-table [role='row'][data-index]")
    return [[c.inner_text().strip() for c in r.locator("[role='gridcell']").all()] for r in rows.all()]


def test_browser_asks_two_chosen_documents_and_downloads_the_table(served: Served) -> None:
    assistant = served.assistant
    chosen = ["bakery.md", "notes/festival.html"]
    with _page(served.url) as page:
        page.get_by_role("tab", name="Ask every document").click()
        _pick(page, "#qa-each-within", *chosen)
        box = page.locator("#qa-each-question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#qa-each-download").wait_for(state="visible", timeout=120_000)
        rows = _rows(page)
        assert [r[0].split()[0] for r in rows] == chosen  # two rows, the chosen documents, in order
        expected = {a.scope[0]: a for a in assistant.ask_each(QUESTION, sources=chosen)}
        for row in rows:
            answer = expected[row[0].split()[0]]
            assert row[1] == answer.text and float(row[2]) == pytest.approx(answer.score, abs=1e-4)
        assert "2 documents asked" in page.locator("#qa-each-status").inner_text()
        page.screenshot(path=str(ARTIFACTS / "ask-every-document.png"))

        with page.expect_download() as download:
            page.locator("#qa-each-download").click()
        table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        assert [r["document"] for r in table] == chosen
        for r in table:
            answer = expected[r["document"]]
            assert (r["answer"], float(r["score"]), r["verdict"]) == (answer.text, round(answer.score, 4), answer.verdict)
            if answer.text:  # the span, cited: the document's text at the offsets, marked in its sentence
                assert assistant.document_text(r["document"])[int(r["start"]):int(r["end"])] == r["answer"]
                assert f"**{answer.text}**" in r["sentence"]

        # The document opens at its answer.
        link = page.locator("#qa-each-table [role='gridcell'] a.qa-source").first
        query = parse_qs(urlsplit(link.get_attribute("href")).query)
        assert query["source"] == [chosen[0]]
        with page.context.expect_page() as opened:
            link.click()
        doc = opened.value
        doc.locator("mark#answer").wait_for()
        assert doc.locator("mark#answer").inner_text() == expected[chosen[0]].text


def test_browser_table_sorts_and_shows_a_failing_document_in_its_row(served: Served) -> None:
    corpus = served.assistant.settings.corpus
    (corpus / "lighthouse.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40)  # unreadable since indexed
    with _page(served.url) as page:
        page.get_by_role("tab", name="Ask every document").click()
        box = page.locator("#qa-each-question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#qa-each-download").wait_for(state="visible", timeout=120_000)
        rows = {r[0].split()[0]: r for r in _rows(page)}
        assert list(rows) == ["bakery.md", "lighthouse.txt", "notes/festival.html"]
        assert rows["lighthouse.txt"][1].startswith("Error: lighthouse.txt changed since it was indexed")
        assert rows["bakery.md"][1] and not rows["bakery.md"][1].startswith("Error")  # the others are answered
        assert "could not be read" in page.locator("#qa-each-status").inner_text()
        # Gradio's own sorting: by confidence, lowest first (the rows came in document order, bakery.md first).
        before = [r[2] for r in _rows(page) if r[2]]
        header = page.locator("#qa-each-table [data-testid='header-2']")
        header.hover()
        header.locator("button").click()
        page.get_by_text("Sort ascending").click()
        time.sleep(0.5)
        shown = [r[2] for r in _rows(page) if r[2]]
        assert shown == sorted(before, key=float) != before


def test_browser_picker_restricts_the_chat_and_the_verdict_names_the_scope(served: Served) -> None:
    with _page(served.url) as page:
        _pick(page, "#qa-within", "lighthouse.txt")
        box = page.locator("#qa-question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        _wait_for_replies(page, 1)
        reply = page.locator("#qa-chat .qa-reply").last
        assert reply.locator(".qa-verdict .qa-scope").inner_text() == "· within lighthouse.txt"
        assert reply.locator("a.qa-citation").inner_text().strip() == "lighthouse.txt"


def test_api_asks_each_document_and_the_reply_names_its_scope(served: Served) -> None:
    rows = served.client.predict(QUESTION, ["*.md", "notes"], api_name="/ask_each")
    assert [r["document"] for r in rows] == ["bakery.md", "notes/festival.html"]
    assert all(r["answers"][0]["scope"] == [r["document"]] for r in rows)
    _, fields = served.client.predict(QUESTION, ["lighthouse.txt"], api_name="/respond")
    assert fields["scope"] == ["lighthouse.txt"] and fields["source"] == "lighthouse.txt"
    _, fields = served.client.predict(QUESTION, ["../secret.txt"], api_name="/respond")
    assert "climbs out of the corpus" in fields["error"] and fields["verdict"] == "error"
    assert served.client.predict(QUESTION, api_name="/respond")[1]["scope"] is None  # as before: no scope given


def test_browser_shows_the_documents_done_of_all_while_a_long_folder_is_asked(tmp_path: Path,
                                                                               reader_model: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(48):
        (corpus / f"ship-{i:02d}.txt").write_text(f"The ship Gull {i} is captained by Ada Marsh. It sails from "
                                                  f"Marlow on Tuesdays and returns on Fridays.", encoding="utf-8")
    s = Served(Assistant(corpus=corpus, index_dir=tmp_path / "index", reader_model=reader_model))
    try:
        with _page(s.url) as page:
            page.get_by_role("tab", name="Ask every document").click()
            box = page.locator("#qa-each-question textarea")
            box.fill("Who captains the ship?")
            box.press("Enter")
            page.get_by_text(re.compile(r"^\d+/48 documents")).first.wait_for(timeout=60_000)
            page.locator("#qa-each-download").wait_for(state="visible", timeout=120_000)
            assert "48 documents asked" in page.locator("#qa-each-status").inner_text()
    finally:
        s.close()


def test_browser_tab_says_why_a_typed_scope_cannot_be_asked(served: Served) -> None:
    with _page(served.url) as page:
        page.get_by_role("tab", name="Ask every document").click()
        picker = page.locator("#qa-each-within input")
        picker.click()
        picker.fill("../secret.txt")  # a pattern typed, not picked: refused, as it leaves the corpus
        picker.press("Enter")
        page.keyboard.press("Escape")
        box = page.locator("#qa-each-question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        status = page.locator("#qa-each-status .qa-each-status-error")
        status.wait_for(timeout=60_000)
        assert "climbs out of the corpus" in status.inner_text()
        assert not page.locator("#qa-each-download").is_visible()
