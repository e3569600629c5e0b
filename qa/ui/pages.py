"""The chat's side panel (the indexed documents), the document page, and example questions from the corpus."""

from __future__ import annotations

import html
import re
import time

from qa.ui.render import link, title_html

MAX_LISTED_DOCUMENTS = 500
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]


def documents_panel(assistant) -> str:
    """The indexed documents with their chunk counts, and when the index was last built."""
    count, chunks, built = assistant.summary()
    if not count:
        return "<p>No documents are indexed yet. Upload some below.</p>"
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(built))
    listed = assistant.documents(MAX_LISTED_DOCUMENTS)
    titles = assistant.titles(list(listed))
    rows = "".join(f"<tr><td>{link(s, None, None)}{title_html(titles.get(s))}</td>"
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
