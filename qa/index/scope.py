"""A scope: the documents a question is asked of, named by file names or glob patterns relative to the corpus.

A pattern matches an indexed document's source (its path relative to the corpus, with forward slashes) when it
is that name exactly, or when it matches it as a glob: `*` and `?` within one folder, `**` across folders,
`[...]` a set of characters. A folder's name (`contracts`, or any pattern ending in `/`) matches the documents
in it. Patterns are checked before they are matched: one that climbs out of the corpus (`../x`) or is an absolute
path is refused, and one that matches no indexed document is an error that says how to see their names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from qa.errors import ScopeError

_GLOB = re.compile(r"[*?[]")
HOW_TO_LIST = ("the indexed documents are listed in the chat's side panel, and `qa search QUERY` names the file "
               "of each passage it shows")


def scope_patterns(sources: str | Iterable[str] | None) -> list[str] | None:
    """A scope's patterns, checked (`check_patterns`); None without any: the whole corpus."""
    return None if sources is None else check_patterns(sources) or None


def check_patterns(patterns: str | Iterable[str]) -> list[str]:
    """The patterns, checked: non-empty text, relative to the corpus, never climbing out of it."""
    if isinstance(patterns, str):
        patterns = [patterns]
    checked = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ScopeError(f"a scope names documents by file name or glob pattern (text), not {pattern!r}")
        name = pattern.strip().replace("\\", "/")
        if not name:
            raise ScopeError("a scope pattern is empty: give a file name or a glob pattern relative to the corpus")
        if name.startswith("/") or re.match(r"[A-Za-z]:/", name):
            raise ScopeError(f"the scope {pattern!r} is an absolute path: give file names or patterns relative to "
                             "the corpus folder, such as \"contracts/*.txt\"")
        if ".." in name.split("/"):
            raise ScopeError(f"the scope {pattern!r} climbs out of the corpus (..): only the corpus's own documents "
                             "can be asked; give file names or patterns relative to the corpus folder")
        checked.append(name.removeprefix("./"))
    return checked


def glob_regex(pattern: str) -> re.Pattern:
    """A compiled regular expression that matches the sources the glob `pattern` names (`**` across folders)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")  # any folders, or none
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and (end := pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)) > 0:
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def match_sources(patterns: list[str], sources: Iterable[str]) -> list[str]:
    """The sources that the checked `patterns` match, in the order given; ScopeError naming a pattern that
    matches none."""
    sources = list(sources)
    chosen: set[str] = set()
    names = set(sources)
    for pattern in patterns:
        if pattern in names:  # a file's own name means that file, even when it reads as a glob ("[draft].txt")
            chosen.add(pattern)
            continue
        folder = pattern.rstrip("/")
        wanted = [] if pattern.endswith("/") else [glob_regex(folder)]
        if pattern.endswith("/") or not _GLOB.search(pattern):  # a folder's name: the documents in it
            wanted.append(glob_regex(folder + "/**"))
        found = {s for s in sources if any(w.fullmatch(s) for w in wanted)}
        if not found:
            raise ScopeError(_no_match(pattern, sources))
        chosen |= found
    return [s for s in sources if s in chosen]


def _no_match(pattern: str, sources: list[str]) -> str:
    if not sources:
        return f"no document matches {pattern!r}: nothing is indexed yet"
    close = difflib.get_close_matches(pattern, sources, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (f"no indexed document matches {pattern!r}: give file names or glob patterns relative to the corpus "
            f"(such as \"*.txt\" or \"contracts/**\"); {HOW_TO_LIST}.{hint}")
