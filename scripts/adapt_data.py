"""adapt_reader's examples from real documents: CUAD and PolicyQA questions over the chunks the index would serve.

Only the documents that `qa.eval.splits.document_part` puts in the "train" part are read. A document is read and
cleaned as `qa index` reads it, and chunked with the index's settings, so that the reader learns from the
passages it will be given: an answerable question is paired with the chunk that holds its answer (at most
`answers_per_question` of its gold spans, each in its own chunk); an unanswerable one with the chunk of its
document that shares the most words with it, labelled "no answer".
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from reader_data import Example

from qa.config import Settings
from qa.eval.questions import Question, load_jsonl
from qa.eval.splits import document_part
from qa.ingest.chunking import chunk_document
from qa.ingest.documents import read_document
from qa.types import Chunk

_WORD = re.compile(r"\w+")
_TEMPLATE = re.compile(r"^Highlight the parts \(if any\) of this contract related to .*? Details: (.*)$", re.S)


def user_question(q: Question) -> str:
    """The question as a user would type it: CUAD's template question becomes its description."""
    found = _TEMPLATE.match(q.question)
    return found[1].strip() if found else q.question


def document_chunks(corpus: Path, doc: str, settings: Settings) -> list[Chunk]:
    """The chunks `qa index` makes of one document of a corpus, with their offsets in its cleaned text."""
    document = read_document(corpus, corpus / doc)
    return chunk_document(document, settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap_words)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def answer_chunks(chunks: list[Chunk], answer: str) -> list[tuple[Chunk, int, int]]:
    """(chunk, start, end) of the answer in each chunk that holds it whole; any run of white space matches any
    other, since cleaning folds spaces and line breaks."""
    words = answer.split()
    if not words:
        return []
    pattern = re.compile(r"\s+".join(map(re.escape, words)))
    return [(chunk, m.start(), m.end()) for chunk in chunks if (m := pattern.search(chunk.text))]


def realdoc_examples(questions_file: Path, corpus: Path, settings: Settings, rng: random.Random, kind: str,
                     natural: Path | None = None, answers_per_question: int = 2,
                     max_answer_words: int = 60) -> list[Example]:
    """Training examples from the "train" part of a real-document question set (see the module's docstring);
    `natural`, a set of the same ids asked in users' words (CUAD's factoid.jsonl), replaces their wording."""
    asked = {q.id: q.question for q in load_jsonl(natural)} if natural else {}
    by_doc: dict[str, list[Question]] = {}
    for q in load_jsonl(questions_file):
        if q.doc and document_part(q.doc) == "train":
            by_doc.setdefault(q.doc, []).append(q)
    examples = []
    for doc in sorted(by_doc):
        chunks = document_chunks(corpus, doc, settings)
        if not chunks:
            continue
        for q in by_doc[doc]:
            question = asked.get(q.id) or user_question(q)
            if not q.answers:
                words = _words(question)
                best = max(chunks, key=lambda c: (len(words & _words(c.text)), -c.start))
                examples.append(Example(q.id, question, best.text, None, kind=f"{kind}-unanswerable"))
                continue
            usable = [a for a in dict.fromkeys(q.answers) if len(a.split()) <= max_answer_words]
            rng.shuffle(usable)
            for a in usable[:answers_per_question]:
                places = answer_chunks(chunks, a)
                if places:
                    chunk, start, end = places[0]
                    examples.append(Example(q.id, question, chunk.text, start, chunk.text[start:end], kind=kind))
    return examples
