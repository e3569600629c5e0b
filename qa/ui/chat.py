"""The browser chat over one `qa.Assistant`: cited answers, the document page, uploads.

    qa serve --corpus DIR             # serves DIR on 127.0.0.1:7860 (QA_HOST, QA_PORT)
    python app.py                     # the same, from a checkout

The models and the index are loaded once, at start, and shared by every user: at most CONCURRENCY
questions are read at once, from the API and the chat together; the others wait their turn.

API (gradio_client): `/respond` takes a question (and, optionally, the documents to ask within: file names or
glob patterns) and returns the reply as HTML and the answer as JSON, in the shape of `Answer.to_dict()` with
`error` (qa.ui.render); `/ask_each` takes a question (and optionally the documents) and returns an object per
document with its answer in that shape (qa.ui.table); `/add_documents` takes files to add and returns a message.
`GET /document?source=NAME&start=S&end=E` is the document page (qa.ui.pages).
"""

from __future__ import annotations

import os
import sys
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, no version check at launch
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars: before gradio imports the hub

import gradio as gr  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402

from qa.ingest.documents import SUFFIXES  # noqa: E402
from qa.errors import ModelError, QAError  # noqa: E402
from qa.types import Hit  # noqa: E402
from qa.ui.pages import MONO_FONTS, SYSTEM_FONTS, document_page, documents_panel, example_questions  # noqa: E402
from qa.ui.render import answer_html, answer_json, error_html, error_json, question_html  # noqa: E402
from qa.ui.each_tab import build_each_tab, document_choices, picker  # noqa: E402
from qa.ui.uploads import add_documents, size_text  # noqa: E402

CONCURRENCY = max(1, min(4, os.cpu_count() or 1))  # questions read at once (one per core); more wait in the queue
QUEUE_SIZE = 256

CSS = """
#qa-each-table a.qa-source { color: var(--link-text-color); text-decoration: underline; }
#qa-each-table mark { background: #ffe066; color: inherit; padding: 0 .1em; border-radius: 2px; }
.qa-each-error { color: #b3261e; } .qa-each-abstain { color: var(--body-text-color-subdued); }
.qa-reply mark, .qa-doc mark { background: #ffe066; color: inherit; padding: 0 .1em; border-radius: 2px; }
.qa-reply .qa-passage { border-left: 3px solid #ccc; margin: .4em 0; padding: .2em .8em; }
.qa-reply .qa-meta { color: var(--body-text-color-subdued); }
.qa-reply .qa-citation { font-weight: 600; }
.qa-reply .qa-verdict { font-size: 1.05em; }
.qa-reply details summary { cursor: pointer; color: var(--body-text-color-subdued); }
.qa-docs { max-height: 24rem; overflow-y: auto; }
.qa-docs table { width: 100%; font-size: .85em; table-layout: fixed; }
.qa-docs td, .qa-docs th { padding: 2px 6px !important; }
.qa-docs td:first-child { word-break: break-all; }
.qa-docs th:last-child { width: 5.5em; }
.qa-title { color: var(--body-text-color-subdued); }
.qa-reply .qa-title::before { content: "· "; }
.qa-docs .qa-title { display: block; word-break: normal; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
/* A question sent while the previous answer is still coming waits, locked, in the box: say so. */
#qa-question textarea:disabled { opacity: .6; cursor: progress; }
#qa-question:has(textarea:disabled)::after { content: "Waiting: this question is asked when the answer above is in.";
  display: block; padding: .3em .8em 0; font-size: .85em; color: var(--body-text-color-subdued); }
/* On a narrow screen the columns stack: the chat and its question box come first, the documents after. */
@media (max-width: 767px) {  /* where Gradio's page narrows to 640px and the row would wrap */
  #qa-layout { flex-direction: column; }
  #qa-chat-column { order: -1; }
}
"""
QUESTION_PLACEHOLDER = "Ask a question about the documents, then press Enter"
BUSY_PLACEHOLDER = "Answering… type your next question: it is asked when this answer is in"
# Run in the browser the moment a question is sent, before any round trip: the box is locked until the
# server has taken the question (and cleared the box), so nothing typed meanwhile can be wiped out.
LOCK_QUESTION_JS = "(q) => ({__type__: 'update', interactive: !(q || '').trim()})"
UNLOCK_QUESTION_JS = f"() => ({{__type__: 'update', interactive: true, placeholder: {QUESTION_PLACEHOLDER!r}}})"


def reply(assistant, question: str, sources: list[str] | None = None) -> tuple[str, dict]:
    """Answer a question, within `sources` when given: (the reply as HTML, the answer as JSON). Errors become
    replies, not exceptions."""
    hits: list[Hit] = []
    try:
        question = assistant.check_question(question)
        hits = assistant.retrieve(question, sources=sources or None)
        answer = assistant.read(question, hits, sources or None)
    except ModelError as exc:  # the reader cannot load: say so, and still show what was found
        titles = assistant.titles([h.chunk.source for h in hits])
        return error_html(str(exc), hits, model=True, titles=titles), error_json(str(exc), hits, titles)
    except QAError as exc:  # empty or too long question, empty corpus
        return error_html(str(exc), hits), error_json(str(exc), hits)
    if not answer.passages:
        answer.passages = hits
    sources = [a.source for a in (answer, *answer.alternatives) if a.source]
    titles = assistant.titles([*sources, *(h.chunk.source for h in answer.passages)])
    return answer_html(answer, titles), answer_json(answer, titles)


class ChatApp(gr.Blocks):
    """The chat's Blocks; `launch` also serves the document view and sets the offline theme."""

    def launch(self, **kwargs):  # noqa: D102
        assistant = self.assistant

        def document(source: str = "", start: str | None = None, end: str | None = None) -> HTMLResponse:
            status, page = document_page(assistant, source, start, end)
            return HTMLResponse(page, status_code=status)

        app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
        app_kwargs["routes"] = [APIRoute("/document", document, methods=["GET"], response_class=HTMLResponse,
                                         include_in_schema=False), *app_kwargs.get("routes", [])]
        kwargs.setdefault("theme", gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS))
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("ssr_mode", False)
        kwargs.setdefault("footer_links", ["api"])
        kwargs.setdefault("show_error", True)
        # Gradio's cap is the app's limit, so that its refusal (a toast, before any upload) names the number
        # the upload box's label gives; check_upload checks the size again for callers that bypass it.
        kwargs.setdefault("max_file_size", assistant.settings.max_file_bytes)
        return super().launch(app_kwargs=app_kwargs, **kwargs)


def build_app(assistant) -> gr.Blocks:
    """The chat over `assistant`; loads the models and the index once, here."""
    try:
        assistant.reader.warm_up()
    except ModelError as exc:  # the chat still starts; each reply says why there is no answer
        print(f"warning: {exc}", file=sys.stderr)
    assistant.index()
    examples = example_questions(assistant)

    # Questions read at once, by the API and the chat together. The chat's turns are not limited by the queue
    # (they wait here instead), so that a question shows in the chat, and the box is free, the moment it is sent.
    reading = threading.BoundedSemaphore(CONCURRENCY)

    def ask(question: str, sources: list[str] | None = None) -> tuple[str, dict]:
        """Answer a question from the documents (within `sources`, file names or glob patterns, when given): the
        reply as HTML, and the answer as JSON."""
        with reading:
            return reply(assistant, question, sources)

    def chat_turn(question: str, history: list, sources: list[str] | None):
        """One exchange: the question, then its answer, appended to the history this event was given."""
        # The box is locked from the moment of sending (LOCK_QUESTION_JS) until the first yield clears it, and a
        # question sent while this runs waits in the box for it (trigger_mode="always_last"), so no other turn
        # changes the history between the two yields: each answer lands under its own question, in order.
        if not (question or "").strip():
            yield gr.update(interactive=True), gr.skip()
            return
        asked = [*history, {"role": "user", "content": question_html(question)}]
        yield gr.update(value="", interactive=True, placeholder=BUSY_PLACEHOLDER), asked
        with reading:
            html_reply, _ = reply(assistant, question, sources)
        yield (gr.update(interactive=True, placeholder=QUESTION_PLACEHOLDER),
               [*asked, {"role": "assistant", "content": html_reply}])

    def upload(paths, progress=gr.Progress()):
        def report(done: int, total: int, source: str) -> None:
            progress((done, total), desc=f"Indexing {source}" if source else "Indexed")
        message = add_documents(assistant, list(paths or []), progress=report)
        return message, documents_panel(assistant), None

    def refreshed() -> tuple[dict, dict]:  # the pickers offer the documents indexed now
        choices = document_choices(assistant)
        return gr.update(choices=choices), gr.update(choices=choices)

    with ChatApp(title="qa · ask your documents", analytics_enabled=False) as demo:
        demo.assistant = assistant
        with gr.Row(elem_id="qa-layout"):
            with gr.Column(scale=1, min_width=260, elem_id="qa-documents-column"):
                gr.Markdown(f"### Documents\n`{assistant.settings.corpus.name}/`")
                docs = gr.HTML(documents_panel(assistant), elem_id="qa-documents")
                files = gr.File(label=f"Add documents (txt, md, html, pdf, docx; up to "
                                      f"{size_text(assistant.settings.max_file_bytes)} each)",
                                file_count="multiple", file_types=list(SUFFIXES), type="filepath",
                                elem_id="qa-upload")
                status = gr.Markdown(elem_id="qa-upload-status")
            with gr.Column(scale=3, elem_id="qa-chat-column"), gr.Tabs(elem_id="qa-tabs"):
                with gr.Tab("Ask", id="ask", elem_id="qa-ask-tab"):
                    # Messages are HTML, not Markdown: replies are HTML blocks, questions escaped text. Replies are
                    # short (the verdict, then folded details), so scrolling to the newest keeps it in view.
                    chat = gr.Chatbot(label="Answers, cited from the documents", elem_id="qa-chat", height=560,
                                      latex_delimiters=[], feedback_options=None, sanitize_html=True,
                                      render_markdown=False, buttons=["copy"])
                    with gr.Row(elem_id="qa-ask-row"):
                        # Focused on load: the document links would otherwise come first in the Tab order.
                        question = gr.Textbox(placeholder=QUESTION_PLACEHOLDER, show_label=False, elem_id="qa-question",
                                              max_lines=4, submit_btn=True, autofocus=True, scale=3)
                        within = picker(assistant, "qa-within", "Ask within")
                    if examples:
                        gr.Examples(examples=examples, inputs=question, label="Examples from these documents")
                with gr.Tab("Ask every document", id="each", elem_id="qa-each-tab"):
                    each_within = build_each_tab(assistant, reading)

        question.submit(None, question, question, js=LOCK_QUESTION_JS, queue=False, api_visibility="private")
        turn = question.submit(chat_turn, [question, chat, within], [question, chat], api_visibility="private",
                               concurrency_limit=None, trigger_mode="always_last", show_progress_on=chat)
        turn.failure(None, None, question, js=UNLOCK_QUESTION_JS, queue=False, api_visibility="private")
        gr.api(ask, api_name="respond", concurrency_id="ask")
        added = files.upload(upload, files, [status, docs, files], api_name="add_documents", concurrency_limit=1,
                             concurrency_id="index")
        added.then(refreshed, None, [within, each_within], api_visibility="private", queue=False)
        demo.load(lambda: (documents_panel(assistant), *refreshed()), None, [docs, within, each_within],
                  api_visibility="private", queue=False)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def serve(assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat until interrupted."""
    build_app(assistant).launch(server_name=host, server_port=port)


def main() -> None:
    """Serve the default Assistant (QA_* settings) on QA_HOST:QA_PORT."""
    from qa.pipeline import Assistant

    assistant = Assistant()
    serve(assistant, assistant.settings.host, assistant.settings.port)
