"""The chat's "Ask every document" tab: one question asked of each document of a scope, the answers as a table
(Gradio's own Dataframe, sortable) that links each document to the document view at its answer, and the table as a
CSV download. Built inside the chat's Blocks by `qa.ui.chat.build_app`."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import gradio as gr

from qa.errors import QAError
from qa.types import Answer
from qa.ui.render import esc, link, scope_html, sentence_html, title_html
from qa.ui.table import Table, ask_table, csv_text, json_rows

HEADERS = ["Document", "Answer", "Confidence", "Sentence"]
DATATYPES = ["html", "html", "number", "html"]
MAX_CHOICES = 2000  # documents the pickers list; past that, a name or a pattern is typed
EACH_PLACEHOLDER = "A question to ask every document, such as “Which law governs the contract?”, then press Enter"


def document_choices(assistant) -> list[str]:
    """The documents a picker offers: the indexed ones, the first `MAX_CHOICES`."""
    return list(assistant.documents(MAX_CHOICES))


def picker(assistant, elem_id: str, label: str) -> gr.Dropdown:
    """A document picker: any of the indexed documents, or a typed name or glob pattern; none picked is all."""
    return gr.Dropdown(choices=document_choices(assistant), value=[], multiselect=True, allow_custom_value=True,
                       label=label, info="None picked: every document. A name or pattern (*.txt) can be typed.",
                       elem_id=elem_id)


def table_rows(table: Table) -> list[list]:
    """The Dataframe's rows: the document (linked to the view at its answer), the answer, its probability of
    being right, the sentence with the answer marked; a document that could not be asked shows its error."""
    rows = []
    for doc, (answer,) in table.rows():
        cited = answer.text and answer.source == doc
        name = link(doc, answer.start if cited else None, answer.end if cited else None) + title_html(
            table.titles.get(doc))
        rows.append([name, _answer_cell(answer), None if answer.error else round(answer.score, 4),
                     sentence_html(answer) if cited else ""])
    return rows


def _answer_cell(answer: Answer) -> str:
    if answer.error:
        return f"<span class='qa-each-error'>Error: {esc(answer.error)}</span>"
    if not answer.text:
        return "<em class='qa-each-abstain'>" + ("Not sure" if answer.verdict == "not_sure" else
                                                  "Not in the document") + "</em>"
    return f"<span class='qa-each-answer'>{esc(answer.text)}</span>"


def summary(table: Table, scope: list[str] | None) -> str:
    """What the table holds, in a line: how many documents answered, abstained, failed; and the scope."""
    answers = [a for column in table.answers for a in column]
    answered = sum(1 for a in answers if a.text)
    failed = sum(1 for a in answers if a.error)
    parts = [f"<strong>{len(answers):,}</strong> documents asked: {answered:,} answered, "
             f"{len(answers) - answered - failed:,} without an answer"]
    if failed:
        parts.append(f"{failed:,} could not be read (the error is in its row)")
    return f"<p class='qa-each-summary'>{', '.join(parts)}.{scope_html(scope)}</p>"


def build_each_tab(assistant, reading: threading.BoundedSemaphore) -> gr.Dropdown:
    """The tab's components and events, in the Blocks being built; returns its picker (to refresh its choices)."""
    downloads = Path(tempfile.mkdtemp(prefix="qa-tables-"))
    with gr.Row():
        question = gr.Textbox(placeholder=EACH_PLACEHOLDER, show_label=False, elem_id="qa-each-question", scale=3,
                              max_lines=3, submit_btn=True)
        within = picker(assistant, "qa-each-within", "Documents to ask")
    status = gr.HTML(elem_id="qa-each-status")
    table = gr.Dataframe(headers=HEADERS, datatype=DATATYPES, interactive=False, wrap=True, elem_id="qa-each-table",
                         column_widths=["24%", "20%", "10%", "46%"], max_height=640, label="One answer per document")
    download = gr.DownloadButton("Download CSV", visible=False, elem_id="qa-each-download", size="sm")

    def ask_every(question: str, sources: list[str] | None, progress=gr.Progress()):
        def told(done: int, total: int) -> None:
            progress((done, total), desc="Documents asked", unit="documents")
        try:
            with reading:
                asked = ask_table(assistant, [assistant.check_question(question)], sources or None, told)
        except QAError as exc:  # an empty question, a scope that matches nothing
            why = f"<p class='qa-each-status-error'><strong>Cannot ask:</strong> {esc(str(exc))}</p>"
            return [], gr.update(visible=False), why
        path = Path(tempfile.mkdtemp(dir=downloads)) / "answers.csv"
        path.write_text(csv_text(asked), encoding="utf-8")
        return table_rows(asked), gr.update(value=str(path), visible=True), summary(asked, sources or None)

    def ask_each(question: str, sources: list[str] | None = None) -> list[dict]:
        """Ask every document (of `sources`, file names or glob patterns) the question: an object a document,
        with its answer in the answer's JSON shape."""
        with reading:
            return json_rows(ask_table(assistant, [question], sources or None))

    question.submit(ask_every, [question, within], [table, download, status], api_visibility="private",
                    show_progress_on=[table])
    gr.api(ask_each, api_name="ask_each", concurrency_id="ask")
    return within
