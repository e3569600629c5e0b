"""The document's own head: the passage that opens a document, read among the candidates when a question asks
for what a document says about itself.

A contract names itself, its parties and its date in its first lines ("CO-BRANDING AGREEMENT ... made as of
June 21, 1999 by and between ..."), a paper its title and authors, a policy its name. A question such as "What is
the date of the contract?" shares few words with that passage, so retrieval seldom brings it; the passages it
brings instead hold other dates. Reading the head as well costs one passage per document. Other questions do
not read it, even when asked of one document alone: its names and dates then outvote the clause that answers
("a Delaware corporation" against the governing-law clause; README.md, "The document's own head").
"""

from __future__ import annotations

import re
from dataclasses import replace

from qa.config import Settings
from qa.index.interface import IndexStore
from qa.ingest.chunking import chunk_document
from qa.types import Chunk, Document, Hit

HEAD_DOCUMENTS = 2  # without a scope, the heads of the documents of the best passages, this many, are read
HEAD_CHARS_PER_WORD = 16  # how much of a document is fetched to cut its first passage from: room for long words

_DOCUMENT = r"\b(contracts?|agreements?|documents?|deeds?|leases?|licen[cs]es?|amendments?|memorand(um|a)|" \
            r"letters?|polic(y|ies)|papers?|reports?|filings?)\b"
# The facts a document states about itself at its head, each asked in one of these shapes:
ABOUT_DOCUMENT = {
    "its name": re.compile(rf"\b(name[ds]?|titled?|called|entitled)\b.*{_DOCUMENT}|{_DOCUMENT}.*\b(name[ds]?|"
                           r"titled?|called|entitled)\b"),
    "who made it": re.compile(rf"(?=.*{_DOCUMENT})\bwho\b.*\b(parties|signator(y|ies)|sign(ed|s)|authors?|authored|"
                              r"wr(ote|itten)|between|entered into|executed)\b|\b(the|its) (parties|signatories)\b"),
    "its date": re.compile(rf"\b(dated?|effective)\b.*{_DOCUMENT}|{_DOCUMENT}.*\b(dated?|effective)\b|"
                           rf"\bwhen\b.*{_DOCUMENT}.*\b(signed|made|entered|executed|commence[sd]?|start(s|ed)?|"
                           r"begin(s)?|began|takes? effect|written|published|updated|revised)\b|\beffective date\b"),
}
# Not the document's own facts: a yes-or-no question asks about a clause ("Does the contract contain a license
# granted by one party...?"); a third party is not a party to it; a date asked about a term, its end or a clause
# stands elsewhere ("On what date will the contract's initial term expire?").
_NOT_ABOUT_DOCUMENT = re.compile(r"^(does|do|did|is|are|was|were|can|could|will|would|may|might|must|shall|should|"
                                 r"has|have|had)\b|\b(third|other|counter)[- ]?part(y|ies)\b|\b(expir\w*|"
                                 r"terminat\w*|renew\w*|notice|warrant\w*|govern\w*)\b")


def asks_about_document(question: str) -> bool:
    """Whether the question asks for a fact a document states about itself at its head (`ABOUT_DOCUMENT`): its
    name or title, who made it (its parties, signatories or authors), the date it was made or takes effect."""
    q = " ".join(question.lower().split())
    return not _NOT_ABOUT_DOCUMENT.search(q) and any(p.search(q) for p in ABOUT_DOCUMENT.values())


def opening_chunk(store: IndexStore, source: str, settings: Settings) -> Chunk | None:
    """The first passage of an indexed document, as the index chunked it; None when it is not indexed."""
    head = store.document_heads([source], HEAD_CHARS_PER_WORD * settings.chunk_max_words).get(source)
    if not head:
        return None
    # The first chunk is made of whole sentences from the start, so the head of the text gives the same one.
    chunks = chunk_document(Document(source, head, ""), settings.chunk_words, settings.chunk_max_words,
                            settings.chunk_overlap_words)
    return chunks[0] if chunks else None


def documents_in_play(hits: list[Hit], scope: list[str] | None = None) -> list[str]:
    """The documents whose heads may be read: a scope of one document; else those of the best passages."""
    if scope is not None and len(scope) == 1:
        return list(scope)
    return list(dict.fromkeys(h.chunk.source for h in hits))[:HEAD_DOCUMENTS]


def opening_chunks(question: str, documents: list[str], store: IndexStore, settings: Settings) -> list[Chunk]:
    """The opening passages to read besides the retrieved ones: those of `documents` (the documents in play,
    `documents_in_play`) when the question asks about the document itself; none otherwise."""
    if not asks_about_document(question):
        return []
    return [c for c in (opening_chunk(store, d, settings) for d in documents) if c is not None]


def with_heads(hits: list[Hit], heads: list[Chunk]) -> list[Hit]:
    """The hits with each head not already among them read just before its document's best passage, with that
    passage's retrieval evidence: it is read as part of a document retrieval chose. A head of a document with
    no passage retrieved is read last, with no evidence."""
    hits = list(hits)
    for chunk in heads:
        if any((h.chunk.source, h.chunk.start, h.chunk.end) == (chunk.source, chunk.start, chunk.end) for h in hits):
            continue
        at = next((i for i, h in enumerate(hits) if h.chunk.source == chunk.source), None)
        if at is None:
            hits.append(Hit(chunk, 0.0))
        else:
            hits.insert(at, replace(hits[at], chunk=chunk))
    return hits


def add_heads(question: str, hits: list[Hit], store: IndexStore, settings: Settings,
              scope: list[str] | None = None) -> list[Hit]:
    """The passages to read for a question: the retrieved `hits`, and, when the question asks about the document
    itself, the opening passages of the documents in play: the one document of a `scope` of one (the documents
    a question is asked of, where a front end narrows it), else those of the best passages."""
    return with_heads(hits, opening_chunks(question, documents_in_play(hits, scope), store, settings))
