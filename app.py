"""The browser chat over one `qa.Assistant`: cited answers, the source document view, uploads.

    python app.py                     # serves seeds/ (or QA_CORPUS) on 127.0.0.1:7860 (QA_HOST, QA_PORT)
    qa serve --corpus DIR             # the same, through the CLI

The models and the index are loaded once, at start, and shared by every user: at most CONCURRENCY
questions are read at once, from the API and the chat together; the others wait their turn.

API (gradio_client): `/respond` takes a question and returns the reply as HTML and the answer as a
dict (answer, score, confidence, source, title, start, end, context, alternatives, passages, error);
`/add_documents` takes files to add to the corpus and returns a message.

The document view, `GET /document?source=NAME&start=S&end=E`, serves the cleaned text of a document
of the indexed corpus (what answer offsets point into) with [S:E] highlighted. It looks `source` up
among the indexed documents and never opens a file by a path it was given, so `../`, absolute paths
and links out of the corpus (which the indexer never indexes) get a 404.

Uploads (txt, md, html, pdf, docx) are refused when larger than `Settings.max_file_bytes` (20 MB by
default; QA_MAX_FILE_BYTES), empty, binary, undecodable, named to land outside the corpus folder, or
named like a file already there (an upload never replaces a document); a refused file is not written
and the index is left as it was.
"""

import html
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, no version check at launch

import gradio as gr  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402

from qa.atomic import atomic_write_bytes  # noqa: E402
from qa.documents import SKIPPED_PREFIXES, SUFFIXES, Skipped  # noqa: E402
from qa.errors import ModelError, QAError  # noqa: E402
from qa.types import Answer, Hit  # noqa: E402

CONCURRENCY = max(1, min(4, os.cpu_count() or 1))  # questions read at once (one per core); more wait in the queue
QUEUE_SIZE = 256
SHOWN_PASSAGES = 3  # passages shown outside the details when there is no answer
EXCERPT_CHARS = 300  # passage shown either side of the answer in a reply
MAX_LISTED_DOCUMENTS = 500
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]

CSS = """
.qa-reply mark, .qa-doc mark { background: #ffe066; color: inherit; padding: 0 .1em; border-radius: 2px; }
.qa-reply .qa-passage { border-left: 3px solid #ccc; margin: .4em 0; padding: .2em .8em; }
.qa-reply .qa-meta { color: var(--body-text-color-subdued); }
.qa-reply .qa-citation { font-weight: 600; }
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


# ---- rendering a reply -------------------------------------------------------------------------

def document_url(source: str, start: int | None = None, end: int | None = None) -> str:
    """The document view's URL (relative to the app's root) for a source, highlighting [start:end]."""
    url = f"document?source={quote(source, safe='')}"
    if start is not None and end is not None:
        url += f"&start={start}&end={end}#answer"
    return url


def _esc(text: str) -> str:
    # No blank lines in a reply: the chat's markdown would end the HTML block there.
    return html.escape(text).replace("\n", "<br>")


def _highlight(text: str, start: int | None, end: int | None) -> str:
    if start is None or end is None or not 0 <= start <= end <= len(text):
        return _esc(text)
    return f"{_esc(text[:start])}<mark>{_esc(text[start:end])}</mark>{_esc(text[end:])}"


def _excerpt(answer: Answer, room: int = EXCERPT_CHARS) -> str:
    """The passage around the answer, cut to about `room` characters either side, answer highlighted."""
    offset = answer.context_start or 0
    text, start, end = answer.context, answer.start - offset, answer.end - offset
    if not 0 <= start <= end <= len(text):
        return _esc(text)
    left = max(0, start - room)
    if left:
        left = text.find(" ", left, start) + 1 or left
    right = min(len(text), end + room)
    if right < len(text) and (cut := text.rfind(" ", end, right)) > end:
        right = cut
    return (("… " if left else "") + _highlight(text[left:right], start - left, end - left)
            + (" …" if right < len(text) else ""))


def _link(source: str, start: int | None, end: int | None, css: str = "qa-source") -> str:
    return (f'<a class="{css}" href="{html.escape(document_url(source, start, end))}" target="_blank" '
            f'rel="noopener">{html.escape(source)}</a>')


def _title(title: str | None) -> str:
    """A document's title, shown beside its file name; nothing when it has none."""
    return f" <span class='qa-title' title='{html.escape(title)}'>{html.escape(title)}</span>" if title else ""


def _passage_items(hits: list[Hit], titles: dict[str, str], answer: Answer | None = None) -> str:
    items = []
    for hit in hits:
        c = hit.chunk
        start = end = None
        if answer is not None and answer.source == c.source and answer.start is not None \
                and c.start <= answer.start and answer.end <= c.end:
            start, end = answer.start - c.start, answer.end - c.start
        items.append(f"<li>{_link(c.source, c.start, c.end)}{_title(titles.get(c.source))} "
                     f"<span class='qa-meta'>(characters {c.start}–{c.end}, "
                     f"retrieval score {hit.score:.3f})</span><div class='qa-passage'>"
                     f"{_highlight(c.text, start, end)}</div></li>")
    return f"<ol>{''.join(items)}</ol>" if items else "<p>No passages were retrieved.</p>"


def _candidate_items(candidates: list[Answer]) -> str:
    items = [f"<li>“{_esc(a.text)}” — {_link(a.source, a.start, a.end)} <span class='qa-meta'>(score {a.score:.2f})"
             f"</span></li>" for a in candidates if a.source]
    return f"<ol>{''.join(items)}</ol>" if items else "<p>None.</p>"


def _details(summary: str, body: str) -> str:
    return f"<details class='qa-details'><summary>{summary}</summary>{body}</details>"


UNSURE = 0.25  # the probability of being right from which an abstention says "not sure" rather than "not found"


def abstention_verdict(best: Answer | None) -> str:
    """What an abstention says: unsure when a candidate has a fair chance of being right, else that there is none."""
    # A candidate right one time in four or more merely misses the threshold: that is doubt, not a finding
    # that the documents are silent.
    if best is not None and best.score >= UNSURE:
        return "Not sure enough to answer: no candidate reaches the confidence threshold."
    return "The documents do not answer this."


def render_question(question: str) -> str:
    """A question as the chat shows it: its text verbatim, never read as HTML."""
    # The Chatbot renders messages as HTML (render_markdown=False; its own styles keep line breaks).
    return html.escape(question.strip(), quote=False)


def render_answer(answer: Answer, titles: dict[str, str] | None = None) -> str:
    """A reply as one HTML block: the answer, its confidence, citation and passage, then the details.

    `titles` maps sources to the titles shown beside their file names.
    """
    titles = titles or {}
    if answer.abstained:
        shown, rest = answer.passages[:SHOWN_PASSAGES], answer.passages[SHOWN_PASSAGES:]
        best = answer.alternatives[0] if answer.alternatives else None
        # The reader's best span stays in view, marked as such: the threshold is cautious by design.
        guess = (f"<p class='qa-candidate'>Best candidate, below the threshold: “{_esc(best.text)}” — "
                 f"{_link(best.source, best.start, best.end)} <span class='qa-meta'>(probability {best.score:.2f})"
                 f"</span></p>" if best else "")
        body = (f"<p class='qa-abstain'><strong>{abstention_verdict(best)}</strong> "
                f"</p>{guess}"
                f"<p>The closest passages:</p>{_passage_items(shown, titles)}")
        extra = (f"<p><strong>Candidate answers below the threshold</strong></p>{_candidate_items(answer.alternatives)}"
                 + (f"<p><strong>More retrieved passages</strong></p>{_passage_items(rest, titles)}" if rest else ""))
        return f"<div class='qa-reply'>{body}{_details('Candidates and more passages', extra)}</div>"
    passage = _excerpt(answer)
    body = (f"<p class='qa-answer'><strong>Answer:</strong> <span class='qa-answer-text'>{_esc(answer.text)}</span></p>"
            f"<p class='qa-facts'>Confidence: <strong class='qa-confidence'>{answer.confidence}</strong> "
            f"({answer.score:.2f}) · Source: "
            f"{_link(answer.source, answer.start, answer.end, 'qa-citation')}{_title(titles.get(answer.source))}</p>"
            f"<div class='qa-passage'>{passage}</div>")
    extra = (f"<p><strong>Other candidate answers</strong></p>{_candidate_items(answer.alternatives)}"
             f"<p><strong>Retrieved passages</strong></p>{_passage_items(answer.passages, titles, answer)}")
    return f"<div class='qa-reply'>{body}{_details('Other candidates and retrieved passages', extra)}</div>"


def render_error(message: str, hits: list[Hit] | None = None, model: bool = False,
                 titles: dict[str, str] | None = None) -> str:
    """A reply that explains why there is no answer, with the best passages when there are some."""
    if model:
        head = (f"<p class='qa-error'><strong>The reader model is not available, so there is no answer.</strong> "
                f"{_esc(message)}</p>")
    else:
        head = f"<p class='qa-error'><strong>Cannot answer:</strong> {_esc(message)}</p>"
    if hits:
        head += f"<p>The passages that match best:</p>{_passage_items(hits, titles or {})}"
    return f"<div class='qa-reply'>{head}</div>"


def _answer_dict(a: Answer) -> dict:
    return {"text": a.text, "score": round(a.score, 4), "source": a.source, "start": a.start, "end": a.end}


def answer_fields(answer: Answer | None, hits: list[Hit], error: str | None = None,
                  titles: dict[str, str] | None = None) -> dict:
    """The reply as plain JSON for API clients; `titles` gives the sources' titles (None where there is none)."""
    a = answer or Answer(text="", score=0.0)
    titles = titles or {}
    return {
        "answer": a.text, "abstained": answer is not None and a.abstained, "score": round(a.score, 4),
        "confidence": a.confidence if answer is not None and not a.abstained else None,
        "source": a.source, "title": titles.get(a.source), "start": a.start, "end": a.end, "context": a.context,
        "alternatives": [_answer_dict(x) for x in a.alternatives],
        "passages": [{"source": h.chunk.source, "title": titles.get(h.chunk.source), "start": h.chunk.start,
                      "end": h.chunk.end, "score": round(h.score, 4), "text": h.chunk.text} for h in hits],
        "error": error,
    }


def reply(assistant, question: str) -> tuple[str, dict]:
    """Answer a question: (the reply as HTML, the answer's fields). Errors become replies, not exceptions."""
    hits: list[Hit] = []
    try:
        question = assistant.check_question(question)
        hits = assistant.retrieve(question)
        answer = assistant.read(question, hits)
    except ModelError as exc:  # the reader cannot load: say so, and still show what was found
        titles = assistant.titles([h.chunk.source for h in hits])
        return render_error(str(exc), hits, model=True, titles=titles), answer_fields(None, hits, str(exc), titles)
    except QAError as exc:  # empty or too long question, empty corpus
        return render_error(str(exc), hits), answer_fields(None, hits, str(exc))
    titles = assistant.titles([s for s in (answer.source, *(h.chunk.source for h in answer.passages)) if s])
    return render_answer(answer, titles), answer_fields(answer, answer.passages or hits, titles=titles)


# ---- the corpus panel, the document view, examples, uploads ------------------------------------

def documents_panel(assistant) -> str:
    """The indexed documents with their chunk counts, and when the index was last built."""
    count, chunks, built = assistant.summary()
    if not count:
        return "<p>No documents are indexed yet. Upload some below.</p>"
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(built))
    listed = assistant.documents(MAX_LISTED_DOCUMENTS)
    titles = assistant.titles(list(listed))
    rows = "".join(f"<tr><td>{_link(s, None, None)}{_title(titles.get(s))}</td>"
                   f"<td style='text-align:right'>{d.chunks}</td></tr>" for s, d in listed.items())
    more = count - len(listed)
    more_row = f"<tr><td colspan='2'>… and {more:,} more</td></tr>" if more > 0 else ""
    return (f"<div class='qa-corpus'><p><strong>{count:,}</strong> documents, <strong>{chunks:,}</strong> chunks"
            f"<br>Index built: <span class='qa-built'>{when}</span></p><div class='qa-docs'><table>"
            f"<thead><tr><th>Document</th><th style='text-align:right'>Chunks</th></tr></thead>"
            f"<tbody>{rows}{more_row}</tbody></table></div></div>")


def document_page(assistant, source: str, start: str | None = None, end: str | None = None) -> tuple[int, str]:
    """(status, HTML) of the document view; only documents of the indexed corpus are served.

    `source` is looked up as a key among the indexed documents (their cleaned text lives in the index);
    no file is opened, so a crafted path (`../x`, `/etc/passwd`, a link out of the corpus) matches nothing.
    """
    text = assistant.document_text(source) if source else None
    if text is None:
        return 404, ("<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head><body>"
                     "<p>No such document in the indexed corpus.</p></body></html>")
    try:
        s, e = int(start), int(end)
        marked = 0 <= s <= e <= len(text)
    except (TypeError, ValueError):
        marked = False
    if marked:
        body = (f"{html.escape(text[:s])}<mark id='answer'>{html.escape(text[s:e])}</mark>{html.escape(text[e:])}")
        where = f"Highlighted: characters {s}–{e}."
    else:
        body, where = html.escape(text), ""
    name = html.escape(source)
    return 200, f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · qa</title>
<style>
body {{ font-family: {", ".join(f"'{f}'" if " " in f else f for f in SYSTEM_FONTS)}; margin: 0; line-height: 1.55; }}
header {{ position: sticky; top: 0; background: #f6f6f6; border-bottom: 1px solid #ddd; padding: .6rem 1.2rem; }}
header h1 {{ font-size: 1.1rem; margin: 0; }} header p {{ margin: .2rem 0 0; color: #555; font-size: .9rem; }}
main {{ white-space: pre-wrap; max-width: 48rem; margin: 1rem auto 50vh; padding: 0 1.2rem; }}
mark {{ background: #ffe066; padding: 0 .1em; border-radius: 2px; scroll-margin-top: 40vh; }}
</style></head>
<body><header><h1 class="qa-doc-title">{name}</h1><p>The document's text as indexed. {where}</p></header>
<main class="qa-doc">{body}</main>
<script>const m = document.getElementById("answer"); if (m) m.scrollIntoView({{block: "center"}});</script>
</body></html>"""


_ROLE = re.compile(r"\b[Tt]he ((?:[A-Za-z][\w'-]* ){0,6}[A-Za-z][\w'-]*), (?:(?:Mr|Ms|Mrs|Miss|Dr|Prof|Professor)\.? )?"
                   r"[A-Z][\w'-]+(?: [A-Z][\w'-]+){1,3},")
_CONNECTORS = {"of", "for", "and", "the", "on", "in", "de"}


def _is_role(role: str) -> bool:
    """A title ("Secretary for Security") or a short common phrase ("last keeper"), not a clause."""
    words = role.split()
    if words[-1] in _CONNECTORS:
        return False
    titled = words[0][0].isupper() and all(w[0].isupper() or w in _CONNECTORS for w in words)
    return titled or (len(words) <= 3 and not any(w in _CONNECTORS for w in words))


def example_questions(assistant, limit: int = 4, scan: int = 200) -> list[str]:
    """Questions taken from the corpus at hand: "the <role>, <Name>," in a document gives "Who is the <role>?".

    At most one per document, from the first `scan` documents; none when no document has such a phrase.
    """
    found: list[str] = []
    for source in assistant.documents(scan):
        text = (assistant.document_text(source) or "")[:20000]
        for match in _ROLE.finditer(text):
            if _is_role(match.group(1)):
                question = f"Who is the {match.group(1)}?"
                if question not in found:
                    found.append(question)
                break
        if len(found) >= limit:
            break
    return found


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def check_upload(assistant, path: Path) -> tuple[str, bytes] | str:
    """(file name, bytes) of an acceptable upload, or the reason it is refused."""
    name, limit = path.name, assistant.settings.max_file_bytes
    corpus = assistant.settings.corpus
    if (not name or name.startswith(SKIPPED_PREFIXES) or any(c in name for c in "/\\\0") or
            any(ord(c) < 32 for c in name) or len(name.encode()) > 255):
        return "its name is not a plain file name"
    if Path(name).suffix.lower() not in SUFFIXES:
        return f"it is not a supported type (use {', '.join(SUFFIXES)})"
    target = corpus / name
    if target.is_symlink() or target.is_dir() or target.parent.resolve() != corpus.resolve():
        return "it would not land as a plain file in the corpus folder"
    size = path.stat().st_size
    if size > limit:
        return f"it is {_size(size)}, over the limit of {_size(limit)}"
    if size == 0:
        return "it is empty"
    data = path.read_bytes()
    # Never replace a document: anyone with the page can upload, and a name is all an upload brings.
    if target.exists() and target.read_bytes() != data:
        return f"a document named {name} is already in the folder: rename the file to add it"
    doc = assistant.read_upload(name, path)  # within the reading limits, in a worker; indexing reuses it
    if isinstance(doc, Skipped):
        return f"it {doc.reason}"
    return name, data


def add_documents(assistant, paths: list[str | Path], progress=None) -> str:
    """Validate uploads, copy the good ones into the corpus atomically, refresh the index; a message."""
    accepted, lines = [], []
    for p in paths:
        checked = check_upload(assistant, Path(p))
        if isinstance(checked, str):
            lines.append(f"Refused {Path(p).name}: {checked}.")
        elif any(name == checked[0] for name, _ in accepted):
            lines.append(f"Refused {checked[0]}: another file of this upload has that name; rename one to add both.")
        else:
            accepted.append(checked)
    if accepted:
        for name, data in accepted:
            target = assistant.settings.corpus / name
            if not target.exists():  # else the same bytes are there already (check_upload)
                atomic_write_bytes(target, data)
        report = assistant.index(progress=progress)
        skipped = {s.source: s.reason for s in report.skipped}
        docs = assistant.documents()
        for name, _ in accepted:
            if name in skipped:
                lines.append(f"Refused {name}: it {skipped[name]}.")
            elif name in report.added or name in report.updated:
                verb = "Added" if name in report.added else "Updated"
                lines.append(f"{verb} {name} ({docs[name].chunks} chunks); it can be asked about now.")
            else:
                lines.append(f"{name} is already in the corpus, unchanged.")
    return "\n".join(f"- {line}" for line in lines) or "No files were given."


# ---- the app -----------------------------------------------------------------------------------

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

    def ask(question: str) -> tuple[str, dict]:
        """Answer a question from the documents: the reply as HTML, and the answer's fields as a dict."""
        with reading:
            return reply(assistant, question)

    def chat_turn(question: str, history: list):
        """One exchange: the question, then its answer, appended to the history this event was given."""
        # The box is locked from the moment of sending (LOCK_QUESTION_JS) until the first yield clears it, and a
        # question sent while this runs waits in the box for it (trigger_mode="always_last"), so no other turn
        # changes the history between the two yields: each answer lands under its own question, in order.
        if not (question or "").strip():
            yield gr.update(interactive=True), gr.skip()
            return
        asked = [*history, {"role": "user", "content": render_question(question)}]
        yield gr.update(value="", interactive=True, placeholder=BUSY_PLACEHOLDER), asked
        with reading:
            html_reply, _ = reply(assistant, question)
        yield (gr.update(interactive=True, placeholder=QUESTION_PLACEHOLDER),
               [*asked, {"role": "assistant", "content": html_reply}])

    def upload(paths, progress=gr.Progress()):
        def report(done: int, total: int, source: str) -> None:
            progress((done, total), desc=f"Indexing {source}" if source else "Indexed")
        message = add_documents(assistant, list(paths or []), progress=report)
        return message, documents_panel(assistant), None

    with ChatApp(title="qa · ask your documents", analytics_enabled=False) as demo:
        demo.assistant = assistant
        with gr.Row(elem_id="qa-layout"):
            with gr.Column(scale=1, min_width=260, elem_id="qa-documents-column"):
                gr.Markdown(f"### Documents\n`{assistant.settings.corpus.name}/`")
                docs = gr.HTML(documents_panel(assistant), elem_id="qa-documents")
                files = gr.File(label=f"Add documents (txt, md, html, pdf, docx; up to "
                                      f"{_size(assistant.settings.max_file_bytes)} each)",
                                file_count="multiple", file_types=list(SUFFIXES), type="filepath",
                                elem_id="qa-upload")
                status = gr.Markdown(elem_id="qa-upload-status")
            with gr.Column(scale=3, elem_id="qa-chat-column"):
                # Messages are HTML, not Markdown: replies are HTML blocks, questions escaped text (render_question).
                chat = gr.Chatbot(label="Answers, cited from the documents", elem_id="qa-chat", height=560,
                                  latex_delimiters=[], feedback_options=None, sanitize_html=True,
                                  render_markdown=False, buttons=["copy"])
                # Focused on load: the document links would otherwise come first in the Tab order.
                question = gr.Textbox(placeholder=QUESTION_PLACEHOLDER, show_label=False, elem_id="qa-question",
                                      max_lines=4, submit_btn=True, autofocus=True)
                if examples:
                    gr.Examples(examples=examples, inputs=question, label="Examples from these documents")

        question.submit(None, question, question, js=LOCK_QUESTION_JS, queue=False, api_visibility="private")
        turn = question.submit(chat_turn, [question, chat], [question, chat], api_visibility="private",
                               concurrency_limit=None, trigger_mode="always_last", show_progress_on=chat)
        turn.failure(None, None, question, js=UNLOCK_QUESTION_JS, queue=False, api_visibility="private")
        gr.api(ask, api_name="respond", concurrency_id="ask")
        files.upload(upload, files, [status, docs, files], api_name="add_documents", concurrency_limit=1,
                     concurrency_id="index")
        demo.load(lambda: documents_panel(assistant), None, docs, api_visibility="private", queue=False)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def serve(assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat until interrupted."""
    build_app(assistant).launch(server_name=host, server_port=port)


if __name__ == "__main__":
    from qa.pipeline import Assistant

    default = Assistant()
    serve(default, default.settings.host, default.settings.port)
