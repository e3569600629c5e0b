"""qa.pipeline: bad input to the Python API is a clear error naming what is wrong; a pasted terminal line is asked
as the question it holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.errors import QuestionError, SettingsError
from qa.answering.question import clean_question
from qa.pipeline import Assistant

TINY = Path(__file__).parent / "data" / "tiny"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, trained_reader_model: str) -> Assistant:
    root = tmp_path_factory.mktemp("input")
    shutil.copytree(TINY, root / "corpus")
    a = Assistant(root / "corpus", root / "index", reader_model=trained_reader_model)
    a.index()
    return a


@pytest.mark.parametrize("question, kind", [(b"Who built the lighthouse?", "bytes"), (42, "int"),
                                            (["Who?"], "list")])
def test_a_question_that_is_not_text_says_so(assistant: Assistant, question: object, kind: str) -> None:
    for call in (assistant.ask, assistant.retrieve, assistant.check_question):
        with pytest.raises(QuestionError) as info:
            call(question)
        assert f"must be text (a str), not {kind}" in str(info.value) and "empty" not in str(info.value)
    with pytest.raises(QuestionError, match="decode it first"):
        assistant.ask(b"Who built the lighthouse?")


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True, "3"])
def test_top_k_below_one_or_not_a_whole_number_is_refused(assistant: Assistant, top_k: object) -> None:
    with pytest.raises(SettingsError, match=rf"top_k must be a whole number of at least 1 .*not {top_k!r}"):
        assistant.retrieve("Who built the lighthouse?", top_k=top_k)


def test_top_k_is_obeyed(assistant: Assistant) -> None:
    assert len(assistant.retrieve("Who built the lighthouse?", top_k=1)) == 1
    assert len(assistant.retrieve("Who built the lighthouse?")) >= 1


@pytest.mark.parametrize("setting", ["corpus", "index_dir", "uploads_dir"])
@pytest.mark.parametrize("value", [123, b"/tmp/x", 1.5])
def test_a_folder_that_is_not_a_path_is_refused_by_name(setting: str, value: object) -> None:
    with pytest.raises(SettingsError, match=rf"{setting} must be a folder's path \(a str or Path\), not "
                                            rf"{type(value).__name__}"):
        Assistant(**{setting: value})


@pytest.mark.parametrize("pasted", [
    "\x1b[2J\x1b[HWho was the last keeper of the lighthouse?",
    "[2J[HWho was the last keeper of the lighthouse?",  # the escape characters lost on the way
    "\x1b[1;32mWho\x1b[0m was the last keeper of the lighthouse?\x1b[K",
    "[1;32mWho[0m was the last keeper of the lighthouse?",
    "\x1b]0;~/notes\x07Who was the last keeper of the lighthouse?",
])
def test_terminal_escapes_and_their_leftovers_are_not_asked(assistant: Assistant, pasted: str) -> None:
    clean = "Who was the last keeper of the lighthouse?"
    assert clean_question(pasted) == clean
    want, got = assistant.ask(clean), assistant.ask(pasted)
    assert got.text == want.text == "Margaret Doyle" and got.score == want.score


@pytest.mark.parametrize("text", ["See [1] and [2]", "a [2D model] and [HTML]", "the [1st] and [K] keys",
                                  "Is 5 [m] or [3 m] more?"])
def test_brackets_in_a_question_are_kept(text: str) -> None:
    assert clean_question(text) == text
