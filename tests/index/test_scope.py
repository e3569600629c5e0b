"""qa.index.scope: file names and glob patterns relative to the corpus, matched against the indexed documents."""

from __future__ import annotations

import pytest

from qa.errors import QAError, ScopeError
from qa.index.scope import check_patterns, match_sources, scope_patterns

SOURCES = ["a.txt", "b.md", "[draft].txt", "notes/festival.html", "notes/deep/x.md", "notes-old/y.txt",
           ".uploads/lease.pdf"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("a.txt", ["a.txt"]),
    ("*.txt", ["a.txt", "[draft].txt"]),  # `*` stays in its folder
    ("**/*.md", ["b.md", "notes/deep/x.md"]),  # `**/` crosses folders, or none
    ("notes", ["notes/festival.html", "notes/deep/x.md"]),  # a folder's name: what is in it, at any depth
    ("notes/", ["notes/festival.html", "notes/deep/x.md"]),
    ("notes/*", ["notes/festival.html"]),
    ("notes*/", ["notes/festival.html", "notes/deep/x.md", "notes-old/y.txt"]),
    ("[draft].txt", ["[draft].txt"]),  # a file's own name means that file, though it reads as a glob
    ("[ab].*", ["a.txt", "b.md"]),
    ("[!a]*.md", ["b.md"]),
    ("?.md", ["b.md"]),
    ("./b.md", ["b.md"]),
    ("notes\\festival.html", ["notes/festival.html"]),  # a Windows separator
    (".uploads/*", [".uploads/lease.pdf"]),
])
def test_patterns_match_names_globs_and_folders(pattern: str, expected: list[str]) -> None:
    assert match_sources(check_patterns(pattern), SOURCES) == expected


def test_several_patterns_give_their_documents_once_in_the_index_order() -> None:
    assert match_sources(check_patterns(["notes/*", "*.md", "b.md"]), SOURCES) == ["b.md", "notes/festival.html"]


@pytest.mark.parametrize("pattern", ["../secret.txt", "notes/../../etc/passwd", "..", "..\\x.txt"])
def test_a_pattern_that_climbs_out_of_the_corpus_is_refused(pattern: str) -> None:
    with pytest.raises(ScopeError, match="climbs out of the corpus"):
        check_patterns([pattern])


@pytest.mark.parametrize("pattern", ["/etc/passwd", "C:\\Users\\x.txt", "\\\\server\\share"])
def test_an_absolute_path_is_refused(pattern: str) -> None:
    with pytest.raises(ScopeError, match="absolute path"):
        check_patterns([pattern])


def test_a_pattern_that_matches_nothing_says_how_to_list_the_documents() -> None:
    with pytest.raises(ScopeError) as exc:
        match_sources(check_patterns(["a.txt", "festival.htm"]), SOURCES)
    message = str(exc.value)
    assert "'festival.htm'" in message and "qa search" in message and "side panel" in message
    assert "'notes/festival.html'" in message  # the near name is suggested
    assert isinstance(exc.value, QAError)


@pytest.mark.parametrize("bad", ["", "   ", ["a.txt", ""], [3], [None]])
def test_an_empty_or_non_text_pattern_is_refused(bad) -> None:
    with pytest.raises(ScopeError):
        check_patterns(bad)


def test_no_patterns_is_the_whole_corpus() -> None:
    assert scope_patterns(None) is None and scope_patterns([]) is None
    assert scope_patterns("a.txt") == ["a.txt"] and scope_patterns(iter(["*.md"])) == ["*.md"]
