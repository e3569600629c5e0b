"""One way to show an `Answer`: as HTML (the chat), as text (the `qa` command) and as JSON (both APIs).

Everything here reads the Answer's fields; nothing is recomputed, so each front end says the same thing.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from qa.types import Answer, Hit

EXCERPT_CHARS = 300  # passage shown either side of the answer in a reply
SHOWN_PASSAGES = 3  # closest passages the command line lists under an abstention
# What an abstention says, by `Answer.verdict`: the headline, then why.
VERDICTS = {
    "not_sure": ("Not sure", "a candidate was found, but none is sure enough to give as the answer"),
    "not_in_documents": ("Not in the documents", "nothing in the passages found reads as an answer"),
}


# ---- JSON ----------------------------------------------------------------------------------------

def answer_json(answer: Answer, titles: dict[str, str] | None = None, error: str | None = None) -> dict:
    """The answer's JSON (`Answer.to_dict`) with `error`: None, or why there is no answer (`error`, else the
    Answer's own); an answer with an error has the verdict "error"."""
    fields = {**answer.to_dict(titles), "error": error or answer.error}
    if fields["error"]:
        fields.update(abstained=False, verdict="error", confidence=None)
    return fields


def error_json(message: str, hits: list[Hit], titles: dict[str, str] | None = None) -> dict:
    """The same shape when no answer could be made (a bad question, no reader): the passages found, and why."""
    return answer_json(Answer(text="", score=0.0, passages=hits), titles, message)


# ---- text ----------------------------------------------------------------------------------------

def answer_text(answer: Answer, bold: bool = False) -> str:
    """The answer as the command line prints it: the verdict first, then the citation or the best candidate."""
    if answer.abstained:
        head, why = VERDICTS[answer.verdict]
        lines = [f"{head}: {why} (score {answer.score:.2f})."]
        if answer.alternatives:  # what the reader found, for a user who judges the threshold too cautious
            best = answer.alternatives[0]
            lines.append(f"  best candidate, below the threshold: {best.text!r} ({best.score:.2f}) in {best.source}")
        lines += [f"  closest: {h.chunk.source}: {shorten(h.chunk.text, 160)}" for h in answer.passages[:SHOWN_PASSAGES]]
        return "\n".join(lines + _within(answer))
    lines = [f"Answer: {answer.text}",
             f"Score:  {answer.score:.2f} ({answer.confidence} confidence)",
             f"Source: {answer.source}, characters {answer.start}-{answer.end}",
             f"        {marked_sentence(answer, bold)}"]
    lines += [f"  also: {alt.text!r} ({alt.score:.2f}) in {alt.source}" for alt in answer.alternatives]
    return "\n".join(lines + _within(answer))


def _within(answer: Answer) -> list[str]:
    """The scope it was asked within, as a last line; none for the whole corpus."""
    return [f"Within: {', '.join(answer.scope)}"] if answer.scope else []


def passages_text(hits: list[Hit], width: int) -> str:
    """Numbered passages with their files and offsets, each cut to `width` characters."""
    return "\n".join(f"{rank}. {h.chunk.source}, characters {h.chunk.start}-{h.chunk.end} (match {h.score:.2f})\n"
                     f"   {shorten(h.chunk.text, width)}" for rank, h in enumerate(hits, 1))


def marked_sentence(answer: Answer, bold: bool = False) -> str:
    """The sentence of the context that holds the answer, with the answer marked."""
    ctx, s, at, end, e = _sentence(answer)
    left, right = ("\033[1m", "\033[0m") if bold else ("**", "**")
    return f"{ctx[s:at]}{left}{ctx[at:end]}{right}{ctx[end:e]}"


def sentence_html(answer: Answer) -> str:
    """`marked_sentence` as HTML, the answer in <mark>."""
    ctx, s, at, end, e = _sentence(answer)
    return highlight(ctx[s:e], at - s, end - s)


def _sentence(answer: Answer) -> tuple[str, int, int, int, int]:
    """(context, the start of the sentence that holds the answer, the answer's start and end, the sentence's end)."""
    from qa.ingest.chunking import sentence_spans

    ctx, at = answer.context, answer.start - (answer.context_start or 0)
    end = at + len(answer.text)
    s, e = next(((s, e) for s, e in sentence_spans(ctx) if s <= at < e), (0, len(ctx)))
    return ctx, min(s, at), at, end, max(e, end)


def shorten(text: str, n: int) -> str:
    """White space folded, cut to `n` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- HTML ----------------------------------------------------------------------------------------

def document_url(source: str, start: int | None = None, end: int | None = None) -> str:
    """The document view's URL (relative to the app's root) for a source, highlighting [start:end]."""
    url = f"document?source={quote(source, safe='')}"
    if start is not None and end is not None:
        url += f"&start={start}&end={end}#answer"
    return url


def esc(text: str) -> str:
    """Text as HTML, with line breaks as <br>."""
    # No blank lines in a reply: the chat's markdown would end the HTML block there.
    return html.escape(text).replace("\n", "<br>")


def highlight(text: str, start: int | None, end: int | None) -> str:
    """Text as HTML with [start:end] marked; unmarked when the offsets do not fit."""
    if start is None or end is None or not 0 <= start <= end <= len(text):
        return esc(text)
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def excerpt(text: str, start: int, end: int, room: int = EXCERPT_CHARS) -> str:
    """The text around [start:end], cut at words about `room` characters either side, the span marked."""
    if not 0 <= start <= end <= len(text):
        return esc(text)
    left = max(0, start - room)
    if left:
        left = text.find(" ", left, start) + 1 or left
    right = min(len(text), end + room)
    if right < len(text) and (cut := text.rfind(" ", end, right)) > end:
        right = cut
    return (("… " if left else "") + highlight(text[left:right], start - left, end - left)
            + (" …" if right < len(text) else ""))


def link(source: str, start: int | None, end: int | None, css: str = "qa-source") -> str:
    """A link to the document view, named by the source."""
    return (f'<a class="{css}" href="{html.escape(document_url(source, start, end))}" target="_blank" '
            f'rel="noopener">{html.escape(visible(source))}</a>')


def visible(name: str) -> str:
    """A name with the characters that reorder or hide the text around them (bidi controls such as U+202E,
    zero-width ones, C1 controls) shown as their code points, "<U+202E>": a name reads as it is."""
    return _HIDDEN.sub(lambda m: f"<U+{ord(m[0]):04X}>", name)


def markdown_name(name: str) -> str:
    """A file name that Markdown shows as it is (`visible`): no link, image, HTML, emphasis or formula."""
    return _MARKDOWN.sub(r"\\\g<0>", visible(name))


_HIDDEN = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# Backslashed, as CommonMark lets any ASCII punctuation be; and the dot of "www.", which GFM links by itself.
_MARKDOWN = re.compile(r"[\\`*_{}\[\]()<>!|~&$@:#]|(?<=[wW]{3})\.")


def title_html(title: str | None) -> str:
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
        items.append(f"<li>{link(c.source, c.start, c.end)}{title_html(titles.get(c.source))} "
                     f"<span class='qa-meta'>(characters {c.start}–{c.end}, "
                     f"retrieval score {hit.score:.3f})</span><div class='qa-passage'>"
                     f"{highlight(c.text, start, end)}</div></li>")
    return f"<ol>{''.join(items)}</ol>" if items else "<p>No passages were retrieved.</p>"


def _candidate_items(candidates: list[Answer]) -> str:
    items = [f"<li>“{esc(a.text)}” — {link(a.source, a.start, a.end)} <span class='qa-meta'>(score {a.score:.2f})"
             f"</span></li>" for a in candidates if a.source]
    return f"<ol>{''.join(items)}</ol>" if items else "<p>None.</p>"


def _details(summary: str, body: str) -> str:
    return f"<details class='qa-details'><summary>{summary}</summary>{body}</details>"


def scope_html(scope: list[str] | None) -> str:
    """The documents a question was asked within, for its verdict line; nothing for the whole corpus."""
    if not scope:
        return ""
    return (" <span class='qa-scope qa-meta'>· within "
            f"{', '.join(f'<code>{html.escape(p)}</code>' for p in scope)}</span>")


def answer_html(answer: Answer, titles: dict[str, str] | None = None) -> str:
    """A reply as one HTML block: the verdict first, short enough to stay in view; candidates and passages folded.

    `titles` maps sources to the titles shown beside their file names.
    """
    titles = titles or {}
    passages = (f"<p><strong>Retrieved passages</strong></p>"
                f"{_passage_items(answer.passages, titles, None if answer.abstained else answer)}")
    if answer.abstained:
        head, why = VERDICTS[answer.verdict]
        best = answer.alternatives[0] if answer.alternatives else None
        # The reader's best span stays in view, marked as such: the threshold is cautious by design.
        guess = (f"<p class='qa-candidate'>Best candidate, below the threshold: “{esc(best.text)}” — "
                 f"{link(best.source, best.start, best.end)}{title_html(titles.get(best.source))} "
                 f"<span class='qa-meta'>(probability {best.score:.2f})</span></p>" if best else "")
        body = (f"<p class='qa-verdict qa-abstain'><strong>{head}</strong>: {why}. "
                f"<span class='qa-meta'>(score {answer.score:.2f})</span>{scope_html(answer.scope)}</p>{guess}")
        extra = f"<p><strong>Candidate answers below the threshold</strong></p>{_candidate_items(answer.alternatives)}"
        return f"<div class='qa-reply'>{body}{_details('Candidates and the closest passages', extra + passages)}</div>"
    offset = answer.context_start or 0
    body = (f"<p class='qa-verdict qa-answer'><strong>Answer:</strong> "
            f"<span class='qa-answer-text'>{esc(answer.text)}</span>{scope_html(answer.scope)}</p>"
            f"<p class='qa-facts'>Confidence: <strong class='qa-confidence'>{answer.confidence}</strong> "
            f"({answer.score:.2f}) · Source: "
            f"{link(answer.source, answer.start, answer.end, 'qa-citation')}{title_html(titles.get(answer.source))}</p>"
            f"<div class='qa-passage'>{excerpt(answer.context, answer.start - offset, answer.end - offset)}</div>")
    extra = f"<p><strong>Other candidate answers</strong></p>{_candidate_items(answer.alternatives)}"
    return f"<div class='qa-reply'>{body}{_details('Other candidates and retrieved passages', extra + passages)}</div>"


def error_html(message: str, hits: list[Hit] | None = None, model: bool = False,
               titles: dict[str, str] | None = None) -> str:
    """A reply that explains why there is no answer, with the best passages folded when there are some."""
    if model:
        head = (f"<p class='qa-verdict qa-error'><strong>The reader model is not available, so there is no "
                f"answer.</strong> {esc(message)}</p>")
    else:
        head = f"<p class='qa-verdict qa-error'><strong>Cannot answer:</strong> {esc(message)}</p>"
    if hits:
        head += _details("The passages that match best", _passage_items(hits, titles or {}))
    return f"<div class='qa-reply'>{head}</div>"


def question_html(question: str) -> str:
    """A question as the chat shows it: its text verbatim, never read as HTML."""
    # The Chatbot renders messages as HTML (render_markdown=False; its own styles keep line breaks).
    return html.escape(question.strip(), quote=False)
