"""The question as it is asked: what a terminal, a pipe or a paste leaves in it, taken out."""

from __future__ import annotations

import re


def clean_question(text: str) -> str:
    """The question as it is asked: control characters (NUL, escape...) dropped, white space folded, and bytes
    that were not UTF-8 (which Python hands over from a terminal or pipe as lone surrogates, and no tokenizer
    takes) replaced by "?". Terminal escape sequences (a colour, "clear screen") go whole, and so do the
    leftovers of those whose escape character was lost on the way ("[2J", "[0m")."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub(" ", _LEFTOVER.sub(" ", _ESCAPE.sub(" ", text)))
    return " ".join(text.split())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc: tabs and line breaks among them, folded as spaces
# ECMA-48: CSI (ESC [ or 0x9B, parameters, a final byte), OSC and the other strings (ended by BEL or ESC \),
# and two-character escapes.
_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x9d\x9e\x9f])[^\x07\x1b\x9c]*"
                     r"(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]")
# What a CSI sequence leaves once its escape is gone: "[" parameters and a final letter. One with a number
# ("[2J", "[1;31m"), or one following such a one ("[2J[H"); never text in brackets ("[1]", "[2D model]", "[HTML]").
_CSI_TAIL = r"\[{}[A-HJKSTfmnsu](?![a-z])(?![^\[\]]*\])"
_LEFTOVER = re.compile(_CSI_TAIL.format(r"[0-9]{1,3}(?:;[0-9]{1,3})*")
                       + f"(?:{_CSI_TAIL.format(r'(?:[0-9]{1,3}(?:;[0-9]{1,3})*)?')})*")
