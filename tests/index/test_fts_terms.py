"""qa.index.fts_terms: the terms are those the local store's FTS5 table indexes, so both backends' BM25 count alike."""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from qa.index.fts_terms import fts_terms
from qa.index.schema import FTS_TOKENIZER

TEXTS = ["The lighthouses were established in 1871 by Café owners.", "", "Running, runs — ran!", "上海海关学院 2024"]


def test_terms_are_lower_cased_unaccented_stemmed_and_in_order() -> None:
    assert fts_terms(TEXTS[:3]) == ["the lighthous were establish in 1871 by cafe owner", "", "run run ran"]


def test_a_word_asked_alone_gets_the_term_its_text_holds_as_fts5_matches_it() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{FTS_TOKENIZER}')")
    db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", enumerate(TEXTS))
    for row, (text, terms) in enumerate(zip(TEXTS, fts_terms(TEXTS))):
        for word in re.findall(r"\w+", text):
            # A question's word is stemmed as the text's was (Milvus's side), and FTS5 finds the text by it.
            assert fts_terms([word])[0] in terms.split()
            assert row in {r for (r,) in db.execute("SELECT rowid FROM t WHERE t MATCH ?", ['"' + word + '"'])}


def test_threads_get_their_own_texts_terms() -> None:
    texts = [f"keeper{i} climbing steps" for i in range(200)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: fts_terms([t])[0], texts))
    assert got == [f"keeper{i} climb step" for i in range(200)]
