"""qa.ingest.cleaning: mojibake, white space, broken lines, repeated paragraphs and link tails."""

from __future__ import annotations

from pathlib import Path

from qa.ingest.cleaning import clean_text
from qa.ingest.documents import read_document
from qa.types import Document


def test_mojibake_in_seeds_is_repaired(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("003_*.txt"))
    raw = path.read_text(encoding="utf-8")
    assert "â€‹" in raw  # the file really holds the mojibake
    doc = read_document(seeds_dir, path)
    assert isinstance(doc, Document)
    assert "â€" not in doc.text and "\u200b" not in doc.text
    assert "\n\nThe Chief Secretary for Administration, Mr Chan Kwok-ki, today (June 25)" in doc.text


def test_mojibake_is_repaired() -> None:
    assert clean_text("The caf\u00c3\u00a9 opened in 2019.") == "The caf\u00e9 opened in 2019."


def test_repeated_paragraphs_in_seeds_are_dropped(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("002_*.txt"))
    caption = "The department participated in the publicity campaign of the National Security Education Day."
    assert path.read_text(encoding="utf-8").count(caption) == 2
    doc = read_document(seeds_dir, path)
    assert isinstance(doc, Document)
    assert doc.text.count(caption) == 1
    paragraphs = doc.text.split("\n\n")
    assert len(paragraphs) == len(set(paragraphs))


def test_a_paragraph_said_twice_is_said_once_but_names_stay_whole() -> None:
    sentence = "The department organised an open day for the public."
    assert clean_text(f"{sentence} {sentence}") == sentence
    assert clean_text("Bora Bora\n\nWalla Walla\n\nThank you. Thank you.") == \
        "Bora Bora\n\nWalla Walla\n\nThank you. Thank you."


def test_the_survey_advert_ending_a_seed_is_dropped(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("001_*.txt"))
    raw = path.read_text(encoding="utf-8")
    assert "Survey for overseas students" in raw and "https://" in raw
    doc = read_document(seeds_dir, path)
    assert "Survey" not in doc.text and "https://" not in doc.text and "cash" not in doc.text
    assert doc.text.endswith("a comprehensive and multifaceted cooperation strategy.")


ARTICLE = ("The Gull Point lighthouse was built in 1871 by Thomas Avery, who also designed the harbour wall, "
           "and it was kept by the Doyle family for three generations until its light was automated in 1952 "
           "by the harbour board.")


def test_a_short_tail_holding_a_link_is_dropped() -> None:
    tail = ["Office closed Jan 19 - Feb 24.", "Tell us what you think: https://example.org/survey",
            "Take part and win a prize!"]
    assert clean_text("\n\n".join([ARTICLE, *tail])) == ARTICLE
    assert clean_text(f"{ARTICLE}\n\nRead more at www.example.org/gull-point") == ARTICLE


def test_short_paragraphs_without_a_link_or_with_no_article_stay() -> None:
    ending = f"{ARTICLE}\n\nThe light is 34 metres tall.\n\nIt is painted red."
    assert clean_text(ending) == ending  # short, but no link: the article's own last lines
    note = "Meeting at five.\n\nDetails: https://example.org/meeting"
    assert clean_text(note) == note  # nothing but short paragraphs: no article to keep apart from them
    middle = f"{ARTICLE}\n\nSee https://example.org/map\n\n{ARTICLE.replace('1871', '1872')}"
    assert clean_text(middle) == middle  # a link inside the text, not in its tail


def test_paragraph_broken_mid_sentence_in_seeds_is_rejoined(seeds_dir: Path) -> None:
    path = next(seeds_dir.glob("000_*.txt"))
    assert "pointed out\n\nthat the Yangtze Delta" in path.read_text(encoding="utf-8")
    doc = read_document(seeds_dir, path)
    assert "pointed out that the Yangtze Delta" in doc.text


def test_white_space_is_normalised_and_paragraphs_kept() -> None:
    raw = "  First   paragraph\tends here.  \r\n\r\n\r\n\u00a0Second\u2003paragraph.\n\n\n\nThird one.  "
    assert clean_text(raw) == "First paragraph ends here.\n\nSecond paragraph.\n\nThird one."


def test_broken_lines_are_rejoined_but_sentences_and_headings_kept_apart() -> None:
    raw = ("Gull Point\n\nThe lighthouse was built\nin 1871 by Thomas Avery.\n\n"
           "It is 34 metres tall.\nit is painted red.")
    assert clean_text(raw).split("\n\n") == [
        "Gull Point",
        "The lighthouse was built in 1871 by Thomas Avery.",
        "It is 34 metres tall.",
        "it is painted red.",
    ]


def test_words_hyphenated_across_lines_are_rejoined() -> None:
    text = clean_text("The Immigra-\ntion Department said immigration rose. It is a well-\nknown fact.\n"
                      "The COVID-\n19 rules ended with the pre-\n\nCOVID era.")
    # The hyphen goes where the document has the whole word, and stays where it does not.
    assert text == ("The Immigration Department said immigration rose. It is a well-known fact.\n\n"
                    "The COVID-19 rules ended with the pre-COVID era.")


def test_paragraphs_are_rejoined_across_blank_lines_only_in_unstructured_text() -> None:
    text = "The keepers of the\n\nold harbour kept a log.\n\nrye bread\nand sourdough"
    assert clean_text(text).split("\n\n") == ["The keepers of the old harbour kept a log.", "rye bread and sourdough"]
    # Where markup made the paragraphs (a list item, a table cell), a lower-case start is no continuation.
    assert clean_text(text, rejoin_paragraphs=False).split("\n\n") == [
        "The keepers of the", "old harbour kept a log.", "rye bread and sourdough"]
