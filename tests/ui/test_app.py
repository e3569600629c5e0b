"""The browser chat (app.py, qa.ui.chat): its API, a real browser, uploads, the document view's paths, and load.

Servers run in-process on free ports. Tests with `reader_model` (an untrained QA head) check only what
holds for any extractive model: answers are exact substrings of the cited document, citations point
into the corpus, the page shows them. Tests of the right answers use `trained_reader_model` and skip
until the bundled reader is trained.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.conftest import wait_until_served

from qa.config import PROJECT_ROOT
from qa.pipeline import Assistant
from qa.types import UNSURE_SCORE, Answer
from qa.ui.pages import example_questions
from qa.ui.render import answer_html
from qa.ui.uploads import check_upload

if str(PROJECT_ROOT) not in sys.path:  # app.py lives at the repository root, outside the package
    sys.path.insert(0, str(PROJECT_ROOT))
import app  # noqa: E402

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECRET = "This file lies outside the corpus and must never be served."
QUESTION = "Who is the Secretary for Security?"
KNOWN = {  # seeds/: question -> (answer, source), for the trained reader
    "Who is the Secretary for Security?": ("Tang Ping-keung", "004_d4ca66b6ff091c88.txt"),
    "Who is the Director of Immigration?": ("Benson Kwok", "000_7895c18606bc288a.txt"),
    "Who is the Chief Secretary for Administration?": ("Chan Kwok-ki", "003_73176fa16a7afba8.txt"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running chat: its URL, its Assistant, and a gradio_client."""

    def __init__(self, assistant: Assistant) -> None:
        from gradio_client import Client

        self.assistant = assistant
        self.demo = app.build_app(assistant)
        _, url, _ = self.demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                     quiet=True)
        self.url = url.rstrip("/") + "/"
        self.client = Client(self.url, verbose=False, analytics_enabled=False)

    def ask(self, question: str) -> tuple[str, dict]:
        return self.client.predict(question, api_name="/respond")

    def close(self) -> None:
        self.client.close()
        self.demo.close()


def check_cited(assistant: Assistant, fields: dict) -> None:
    """What holds for any reader: the answer is the cited document's text at [start:end]."""
    assert fields["error"] is None
    assert fields["text"], "with answer_threshold=0.0 the assistant always answers"
    assert fields["source"] in assistant.documents()
    text = assistant.document_text(fields["source"])
    assert text[fields["start"]:fields["end"]] == fields["text"]
    assert fields["confidence"] in ("high", "medium", "low")
    assert 0.0 <= fields["score"] <= 1.0
    for alt in fields["alternatives"]:
        assert assistant.document_text(alt["source"])[alt["start"]:alt["end"]] == alt["text"]


@pytest.fixture(scope="module")
def corpus_with_link(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> Path:
    """A copy of seeds/ with a symlink that points out of the corpus (the indexer skips it)."""
    root = tmp_path_factory.mktemp("served")
    corpus = root / "corpus"
    shutil.copytree(seeds_dir, corpus)
    (root / "secret.txt").write_text(SECRET, encoding="utf-8")
    (corpus / "outside.txt").symlink_to(root / "secret.txt")
    return corpus


@pytest.fixture(scope="module")
def served(corpus_with_link: Path, reader_model: str):
    s = Served(Assistant(corpus=corpus_with_link, index_dir=corpus_with_link.parent / "index",
                         reader_model=reader_model, answer_threshold=0.0))
    yield s
    s.close()


@pytest.fixture(scope="module")
def trained_served(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path, trained_reader_model: str):
    s = Served(Assistant(corpus=seeds_dir, index_dir=tmp_path_factory.mktemp("trained-index"),
                         reader_model=trained_reader_model))
    yield s
    s.close()


# ---- API ---------------------------------------------------------------------------------------

def test_api_answers_with_an_exact_citation(served: Served) -> None:
    html, fields = served.ask(QUESTION)
    check_cited(served.assistant, fields)
    assert set(fields) == set(Answer(text="", score=0.0).to_dict()) | {"error"}  # the one shape (as qa ask --json)
    assert fields["passages"] and all(p["source"] in served.assistant.documents() for p in fields["passages"])
    assert fields["source"] in html and "<mark>" in html and "<details" in html
    assert fields["confidence"] in html
    titles = served.assistant.titles(list(served.assistant.documents()))
    assert fields["title"] == titles.get(fields["source"])
    assert all(p["title"] == titles.get(p["source"]) for p in fields["passages"])
    assert any(p["title"] for p in fields["passages"])  # seeds/ documents mostly open with a heading


def test_api_reports_a_bad_question_in_the_reply(served: Served) -> None:
    html, fields = served.ask("   ")
    assert "empty" in fields["error"] and fields["text"] == ""
    assert "Cannot answer" in html and fields["verdict"] == "error"


def test_api_gives_the_right_answer_on_seeds(trained_served: Served) -> None:
    _, fields = trained_served.ask(QUESTION)
    assert "Tang Ping-keung" in fields["text"]
    assert fields["source"] == "004_d4ca66b6ff091c88.txt"
    check_cited(trained_served.assistant, fields)


def test_abstention_says_so_and_shows_the_closest_passages(tiny_corpus: Path, tmp_path: Path,
                                                           reader_model: str) -> None:
    # The highest threshold makes the real pipeline abstain on all but a certain span.
    assistant = Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model,
                          answer_threshold=1.0)
    html, fields = app.reply(assistant, "When was the lighthouse built?")
    assert fields["abstained"] and fields["text"] == "" and fields["error"] is None
    assert fields["passages"] and "lighthouse.txt" in html
    best = fields["alternatives"][0]  # the reader's best span, shown as a candidate, not as the answer
    assert best["text"] and f"Best candidate, below the threshold: “{best['text']}”" in html
    assert fields["verdict"] == ("not_sure" if best["score"] >= UNSURE_SCORE else "not_in_documents")
    verdict = "<strong>Not sure</strong>" if best["score"] >= UNSURE_SCORE else "<strong>Not in the documents</strong>"
    # The verdict comes first; the candidates and passages are folded away under it.
    assert html.index(verdict) < html.index("Best candidate") < html.index("<details")
    assert html.index("<details") < html.index("(characters ")  # the passages, folded


def test_abstention_is_unsure_when_a_candidate_has_a_fair_chance() -> None:
    def abstention(best_score: float | None) -> Answer:
        best = [Answer(text="Edwina Marsh", score=best_score, source="a.txt", start=0, end=12)] \
            if best_score is not None else []
        return Answer(text="", score=best_score or 0.0, alternatives=best)

    unsure, silent = "<strong>Not sure</strong>", "<strong>Not in the documents</strong>"
    for score in (0.4, 0.25):  # right one time in four or more, below the threshold
        html = answer_html(abstention(score))
        assert unsure in html and silent not in html and abstention(score).to_dict()["verdict"] == "not_sure"
        assert "Best candidate, below the threshold: “Edwina Marsh”" in html and f"(probability {score:.2f})" in html
    for score in (0.24, None):  # a poor chance, or no candidate at all
        html = answer_html(abstention(score))
        assert silent in html and unsure not in html
        assert abstention(score).to_dict()["verdict"] == "not_in_documents"


def test_the_chat_starts_without_a_reader_and_says_why(tiny_corpus: Path, tmp_path: Path) -> None:
    """`python app.py` with QA_* settings; the reader folder is missing, as before training."""
    port = free_port()
    env = {**os.environ, "QA_CORPUS": str(tiny_corpus), "QA_INDEX_DIR": str(tmp_path / "index"),
           "QA_PORT": str(port), "QA_READER_MODEL": str(tmp_path / "no-reader"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=Path(app.__file__).parent, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_served(proc, url, log, 300)  # slow on a busy machine
        from gradio_client import Client

        client = Client(url, verbose=False, analytics_enabled=False)
        html, fields = client.predict("Who was the last keeper of the lighthouse?", api_name="/respond")
        client.close()
        assert "no reader model at" in fields["error"] and fields["text"] == ""
        assert "The reader model is not available" in html and "no reader model at" in html
        assert any(p["source"] == "lighthouse.txt" for p in fields["passages"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---- the browser -------------------------------------------------------------------------------

def _normal(text: str) -> str:
    return " ".join(text.split())


def test_browser_chat_cites_and_opens_the_document(served: Served) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run "
                    "the browser test")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.on("request", lambda r: outside.append(r.url)
                       if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
            page = context.new_page()
            page.goto(served.url, wait_until="load")
            box = page.locator("#qa-question textarea")
            box.wait_for(timeout=60_000)

            # The side panel and the examples come from the corpus at hand.
            panel = page.locator("#qa-documents")
            for source in served.assistant.documents():
                assert panel.get_by_text(source, exact=True).is_visible()
            titles = served.assistant.titles(list(served.assistant.documents()))
            assert titles  # seeds/ files are named by hashes; four of the five have a heading line
            for title in titles.values():
                assert panel.get_by_text(title, exact=True).is_visible()
            assert "outside.txt" not in panel.inner_text()
            assert "Index built" in panel.inner_text()
            for example in example_questions(served.assistant):
                assert page.get_by_text(example, exact=True).first.is_visible()

            box.fill(QUESTION)
            box.press("Enter")
            answer = page.locator("#qa-chat .qa-answer-text").last
            answer.wait_for(timeout=120_000)
            citation = page.locator("#qa-chat a.qa-citation").last
            assert answer.is_visible() and citation.is_visible()
            source = citation.inner_text().strip()
            assert source in served.assistant.documents()
            shown_title = page.locator("#qa-chat .qa-reply").last.locator(".qa-facts .qa-title")
            if source in titles:
                assert shown_title.inner_text() == titles[source]
            else:
                assert shown_title.count() == 0
            query = parse_qs(urlsplit(citation.get_attribute("href")).query)
            start, end = int(query["start"][0]), int(query["end"][0])
            cited = served.assistant.document_text(source)[start:end]
            assert _normal(answer.inner_text()) == _normal(cited)
            reply = page.locator("#qa-chat .qa-reply").last
            assert _normal(reply.locator(".qa-passage mark").first.inner_text()) == _normal(cited)
            assert re.search(r"Confidence: (high|medium|low) \(\d\.\d\d\)", reply.inner_text())
            # The verdict comes first and the chat has not scrolled it away: it shows in the chat's own box.
            time.sleep(0.5)  # any scrolling done
            verdict, shown = reply.locator(".qa-verdict").bounding_box(), page.locator("#qa-chat").bounding_box()
            assert shown["y"] <= verdict["y"] and verdict["y"] + verdict["height"] <= shown["y"] + shown["height"]
            assert reply.locator("details").count() == 1 and reply.locator("details[open]").count() == 0  # folded
            answer.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "chat.png"))
            reply.locator("details summary").click()
            assert reply.get_by_text("Retrieved passages", exact=True).is_visible()
            page.screenshot(path=str(ARTIFACTS / "chat-details.png"))

            with context.expect_page() as opened:
                citation.click()
            doc = opened.value
            doc.wait_for_load_state("load")
            mark = doc.locator("mark#answer")
            mark.wait_for()
            assert _normal(mark.inner_text()) == _normal(cited)
            top, bottom, height = doc.evaluate(
                "() => { const r = document.getElementById('answer').getBoundingClientRect();"
                " return [r.top, r.bottom, window.innerHeight]; }")
            assert 0 <= top < height, "the document view is scrolled to the answer"
            assert source in doc.title()
            doc.screenshot(path=str(ARTIFACTS / "document.png"))
        finally:
            browser.close()
    assert outside == [], f"the page fetched from outside 127.0.0.1: {outside}"


@contextmanager
def _page(url: str, width: int = 1280, height: int = 900) -> Iterator:
    """A chromium page on the chat at `url`, its question box ready; it records the URLs it fetches."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run "
                    "the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.fetched = []
            page.on("request", lambda r: page.fetched.append(r.url))
            page.goto(url, wait_until="load")
            page.locator("#qa-question textarea").wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


def _messages(page) -> list[tuple[str, str]]:
    """The chat's messages in order, as (role, text shown)."""
    shown = page.locator("#qa-chat [data-testid='user'], #qa-chat [data-testid='bot']")
    return [(m.get_attribute("data-testid"), _normal(m.inner_text())) for m in shown.all()]


def _wait_for_replies(page, count: int, timeout: float = 120) -> None:
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-reply').length >= {count}",
                           timeout=timeout * 1000)


LONG_QUESTION = ("Which Vice Mayor of Shanghai did the Chief Secretary meet, and what did they discuss about "
                 "co-operation between the two cities in trade, finance and innovation? ") * 4


def test_browser_questions_sent_in_quick_succession_are_each_answered_under_themselves(served: Served) -> None:
    """The tour lost a question sent 0.05-0.15 s after another, or showed it the other question's answer."""
    first, second = LONG_QUESTION, QUESTION  # the first takes a while to read
    expected = {q: served.ask(q)[1] for q in (first, second)}
    load = [served.client.submit(LONG_QUESTION, api_name="/respond") for _ in range(6)]  # other users
    try:
        with _page(served.url) as page:
            box = page.locator("#qa-question textarea")
            box.fill(first)
            box.press("Enter")
            time.sleep(0.1)
            box.fill(second)  # Playwright waits while the box is locked, until the chat has taken the first
            box.press("Enter")
            # The first answer is still coming: the second question waits in the box, locked, and says so.
            assert page.locator("#qa-chat .qa-reply").count() == 0
            page.wait_for_function("document.querySelector('#qa-question textarea').disabled", timeout=5_000)
            assert box.input_value() == second
            note = page.evaluate("getComputedStyle(document.querySelector('#qa-question'), '::after').content")
            assert "asked when the answer above is in" in note
            page.screenshot(path=str(ARTIFACTS / "chat-waiting.png"))
            _wait_for_replies(page, 2)
            time.sleep(0.5)  # nothing more arrives
            messages = _messages(page)
            assert [role for role, _ in messages] == ["user", "bot", "user", "bot"], messages
            assert [text for role, text in messages if role == "user"] == [_normal(first), _normal(second)]
            for i, question in enumerate((first, second)):
                reply = page.locator("#qa-chat .qa-reply").nth(i)
                assert _normal(reply.locator(".qa-answer-text").inner_text()) == _normal(expected[question]["text"])
                assert reply.locator("a.qa-citation").inner_text().strip() == expected[question]["source"]
            assert box.is_enabled() and box.input_value() == ""
    finally:
        for job in load:
            job.result(timeout=300)


def test_browser_shows_a_question_as_typed_never_as_markup(served: Served) -> None:
    question = ("<img src=x onerror=alert(1)> <script>alert(2)</script> Who is the <b>Secretary</b> for "
                "**Security** [here](javascript:alert(3)) & co?")
    dialogs: list[str] = []
    with _page(served.url) as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        box = page.locator("#qa-question textarea")
        box.fill(question)
        box.press("Enter")
        _wait_for_replies(page, 1)
        shown = page.locator("#qa-chat [data-testid='user']").last
        assert shown.inner_text() == question
        assert shown.locator("img, script, b, strong, a").count() == 0
        reply = page.locator("#qa-chat .qa-reply").last  # the reply's own HTML still renders
        assert reply.locator("a.qa-citation, .qa-abstain").count() == 1 and reply.locator("details").count() == 1
        time.sleep(0.5)
    assert dialogs == []
    assert not [u for u in page.fetched if urlsplit(u).path.endswith("/x")], "the question's <img> was loaded"


def test_browser_question_box_has_focus_and_comes_first_on_a_phone(served: Served) -> None:
    with _page(served.url) as page:  # a wide screen: the documents on the left, the chat on the right
        focused = page.evaluate("document.activeElement.closest('#qa-question') !== null")
        assert focused, "the question box has the focus on load"
        page.keyboard.type(QUESTION)
        page.keyboard.press("Enter")
        _wait_for_replies(page, 1)
        docs, chat = page.locator("#qa-documents").bounding_box(), page.locator("#qa-chat").bounding_box()
        assert docs["x"] + docs["width"] <= chat["x"] and abs(docs["y"] - chat["y"]) < 200
    with _page(served.url, 390, 844) as page:
        page.evaluate("window.scrollTo(0, 0)")
        box = page.locator("#qa-question textarea").bounding_box()
        docs, chat = page.locator("#qa-documents").bounding_box(), page.locator("#qa-chat").bounding_box()
        assert box["y"] + box["height"] <= 844, "the question box is on the first screen"
        assert chat["y"] < box["y"] < docs["y"]
        page.screenshot(path=str(ARTIFACTS / "phone.png"))


# ---- the document view's paths -----------------------------------------------------------------

def test_document_view_serves_only_indexed_documents(served: Served, corpus_with_link: Path) -> None:
    base = served.url + "document"
    good = httpx.get(base, params={"source": "004_d4ca66b6ff091c88.txt", "start": 0, "end": 10})
    assert good.status_code == 200 and "<mark id='answer'>" in good.text
    crafted = ["../secret.txt", "outside.txt", str(corpus_with_link.parent / "secret.txt"), "/etc/passwd",
               str(corpus_with_link / "004_d4ca66b6ff091c88.txt"), "./004_d4ca66b6ff091c88.txt",
               "..%2Fsecret.txt", "corpus/../secret.txt", "", "004_d4ca66b6ff091c88.txt/"]
    for source in crafted:
        r = httpx.get(base, params={"source": source})
        assert r.status_code == 404, source
        assert SECRET not in r.text and "Tang Ping-keung" not in r.text
    r = httpx.get(served.url + "document?source=..%2F..%2Fsecret.txt")
    assert r.status_code == 404 and SECRET not in r.text
    # Offsets out of range show the document without a highlight.
    r = httpx.get(base, params={"source": "004_d4ca66b6ff091c88.txt", "start": -5, "end": 10**9})
    assert r.status_code == 200 and "<mark" not in r.text


# ---- uploads -----------------------------------------------------------------------------------

NEW_DOC = """# The Quillfeather Observatory

The Quillfeather Observatory was opened in 1931 on Bramble Hill by the astronomer Edwina Marsh.

Its great refractor telescope has a lens 61 centimetres across.
"""


@pytest.fixture
def upload_served(tiny_corpus: Path, tmp_path: Path, reader_model: str):
    s = Served(Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model,
                         answer_threshold=0.0, max_file_bytes=4096))
    yield s
    s.close()


def _upload(served: Served, *paths: Path) -> str:
    from gradio_client import handle_file

    message, panel, _ = served.client.predict([handle_file(str(p)) for p in paths], api_name="/add_documents")
    return message


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_upload_makes_a_document_answerable_and_refuses_bad_files(upload_served: Served, tmp_path: Path) -> None:
    assistant, settings = upload_served.assistant, upload_served.assistant.settings
    corpus, uploads = settings.corpus, settings.uploads_dir
    corpus_before = _tree(corpus)
    before = dict(assistant.documents())
    generation = assistant.store.generation()
    files = tmp_path / "uploads"
    files.mkdir()
    bad = {
        "blob.txt": b"\x00\x01\x02binary\x00" * 50,  # binary
        "greek.txt": "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5".encode("iso-8859-7"),  # not UTF-8
        "empty.md": b"",
    }
    for name, data in bad.items():
        (files / name).write_bytes(data)
    outside = tmp_path / "outside-target.txt"
    outside.write_text("untouched", encoding="utf-8")
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "link.txt").symlink_to(outside)
    (files / "link.txt").write_text("written through a link", encoding="utf-8")

    message = _upload(upload_served, *(files / n for n in [*bad, "link.txt"]))
    for name in [*bad, "link.txt"]:
        assert f"Refused {name}" in message, message
    assert "binary" in message and "UTF-8" in message and "empty" in message
    assert assistant.documents() == before and assistant.store.generation() == generation
    assert not any((uploads / n).exists() for n in bad)
    assert outside.read_text(encoding="utf-8") == "untouched"
    # Types other than txt, md, html, pdf and docx are refused by the upload box itself.
    from gradio_client.exceptions import AppError

    (files / "program.exe").write_bytes(b"MZ" + b"\x00" * 10)
    with pytest.raises(AppError, match="Invalid file type"):
        _upload(upload_served, files / "program.exe")
    assert not (uploads / "program.exe").exists() and assistant.documents() == before

    (files / "observatory.md").write_text(NEW_DOC, encoding="utf-8")
    message = _upload(upload_served, files / "observatory.md")
    assert "Added observatory.md as .uploads/observatory.md" in message, message
    # The upload is kept in the index's own folder, indexed with the corpus; the corpus folder is never written.
    assert (uploads / "observatory.md").read_text(encoding="utf-8") == NEW_DOC
    assert _tree(corpus) == corpus_before
    assert set(assistant.documents()) == set(before) | {".uploads/observatory.md"}

    html, fields = upload_served.ask("Who opened the Quillfeather Observatory on Bramble Hill?")
    check_cited(assistant, fields)
    assert fields["passages"][0]["source"] == ".uploads/observatory.md"
    page = httpx.get(upload_served.url + "document", params={"source": ".uploads/observatory.md"})
    assert page.status_code == 200 and "Edwina Marsh" in page.text

    # Indexed with the corpus: a refresh from the command line (another Assistant) keeps it.
    other = Assistant(corpus=corpus, index_dir=settings.index_dir, reader_model=settings.reader_model)
    report = other.index()
    assert ".uploads/observatory.md" not in report.removed and ".uploads/observatory.md" in other.documents()


def test_upload_cap_is_the_limit_the_upload_box_names(served: Served, tmp_path: Path) -> None:
    """Gradio refuses a file over the limit before it is sent, naming the number the box's label gives."""
    limit, corpus = served.assistant.settings.max_file_bytes, served.assistant.settings.corpus
    before = sorted(corpus.iterdir())
    big = tmp_path / "big.txt"
    with open(big, "wb") as out:
        out.truncate(limit + 1)
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {limit} bytes"):
        _upload(served, big)
    with _page(served.url) as page:
        label = page.locator("#qa-upload").inner_text()
        page.locator("#qa-upload input[type=file]").set_input_files(str(big))
        toast = page.get_by_text("exceed the maximum allowed size")
        toast.wait_for(timeout=10_000)
        named = float(re.search(r"up to ([\d.]+) MB each", label).group(1))
        capped = float(re.search(r"maximum allowed size of ([\d.]+) ?Mb", toast.inner_text()).group(1))
        assert named == capped == limit / 2**20
    assert sorted(corpus.iterdir()) == before


def test_check_upload_refuses_names_that_leave_the_corpus(tiny_corpus: Path, tmp_path: Path,
                                                          reader_model: str) -> None:
    assistant = Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model)
    for name in [".hidden.txt", "~$locked.docx", "..", "notes.exe"]:
        path = tmp_path / "names" / name
        path.parent.mkdir(exist_ok=True)
        if name != "..":
            path.write_text("some text", encoding="utf-8")
        assert isinstance(check_upload(assistant, path), str), name
    (tmp_path / "names" / "fine.txt").write_text("Some text.", encoding="utf-8")
    assert check_upload(assistant, tmp_path / "names" / "fine.txt") == ("fine.txt", b"Some text.")


def test_check_upload_refuses_a_file_over_the_limit(tiny_corpus: Path, tmp_path: Path, reader_model: str) -> None:
    """The chat's upload box never sends such a file (Gradio's cap is the same limit); other callers get this."""
    assistant = Assistant(corpus=tiny_corpus, index_dir=tmp_path / "index", reader_model=reader_model,
                          max_file_bytes=4096)
    (tmp_path / "big.txt").write_bytes(b"word " * 820)
    assert check_upload(assistant, tmp_path / "big.txt") == (
        "it is larger than the limit of 4,096 bytes (QA_MAX_FILE_BYTES); it is 4 KB")
    (tmp_path / "fits.txt").write_bytes(b"word " * 819)
    assert check_upload(assistant, tmp_path / "fits.txt") == ("fits.txt", b"word " * 819)


def test_upload_never_replaces_a_document(upload_served: Served, tmp_path: Path) -> None:
    assistant, settings = upload_served.assistant, upload_served.assistant.settings
    corpus_before = _tree(settings.corpus)
    # A name the corpus has already is no clash: the upload is kept apart, and cited under .uploads/.
    (tmp_path / "lighthouse.txt").write_text("The lighthouse was sold to Edwina Marsh in 1931.", encoding="utf-8")
    assert "Added lighthouse.txt as .uploads/lighthouse.txt" in _upload(upload_served, tmp_path / "lighthouse.txt")
    assert _tree(settings.corpus) == corpus_before
    original = (settings.uploads_dir / "lighthouse.txt").read_bytes()
    before, generation = dict(assistant.documents()), assistant.store.generation()

    (tmp_path / "lighthouse.txt").write_text("The lighthouse was sold to Thomas Avery in 1950.", encoding="utf-8")
    message = _upload(upload_served, tmp_path / "lighthouse.txt")
    assert message == ("- Refused lighthouse.txt: a document named lighthouse.txt was uploaded already: "
                       "rename the file to add it.")
    assert (settings.uploads_dir / "lighthouse.txt").read_bytes() == original
    assert assistant.documents() == before and assistant.store.generation() == generation

    # The same bytes again: nothing to replace, and the file is not written.
    (tmp_path / "lighthouse.txt").write_bytes(original)
    mtime = (settings.uploads_dir / "lighthouse.txt").stat().st_mtime_ns
    message = _upload(upload_served, tmp_path / "lighthouse.txt")
    assert message == "- lighthouse.txt was uploaded already, unchanged.", message
    assert (settings.uploads_dir / "lighthouse.txt").stat().st_mtime_ns == mtime
    assert assistant.documents() == before and assistant.store.generation() == generation


# ---- load --------------------------------------------------------------------------------------

def _concurrent(served: Served, questions: list[str]) -> list[tuple[float, dict]]:
    """Send all questions at once; (seconds from sending until that reply was done, fields) for each."""
    t0 = time.perf_counter()
    jobs = [served.client.submit(q, api_name="/respond") for q in questions]
    finished: dict[int, float] = {}
    while len(finished) < len(jobs) and time.perf_counter() - t0 < 600:
        finished.update({i: time.perf_counter() - t0 for i, job in enumerate(jobs) if i not in finished and job.done()})
        time.sleep(0.01)
    assert len(finished) == len(jobs), f"{len(jobs) - len(finished)} replies never came"
    results = [(finished[i], job.result(timeout=1)[1]) for i, job in enumerate(jobs)]
    times = sorted(t for t, _ in results)
    print(f"\n{len(results)} concurrent questions answered: median {statistics.median(times):.2f} s, "
          f"slowest {times[-1]:.2f} s")
    return results


def test_twenty_concurrent_questions_all_get_replies(served: Served) -> None:
    questions = [*KNOWN, "Where did the symposium take place?", "When did Chongqing host the conference?"] * 4
    results = _concurrent(served, questions)
    assert len(results) == 20
    for _, fields in results:
        check_cited(served.assistant, fields)
    _, fields = served.ask(QUESTION)  # the server is still up
    check_cited(served.assistant, fields)
    assert httpx.get(served.url).status_code == 200


def test_twenty_concurrent_questions_get_the_right_answers(trained_served: Served) -> None:
    questions = [*KNOWN] * 7
    results = _concurrent(trained_served, questions[:20])
    for question, (_, fields) in zip(questions, results):
        answer, source = KNOWN[question]
        assert answer in fields["text"] and fields["source"] == source
