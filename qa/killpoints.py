"""A hook for crash tests only: `QA_TEST_KILL_AT=<point>` ends the process at that write point.

Tests set it to stop a build or a refresh at an exact place (a small corpus is written in one commit,
so a kill at a random time rarely lands between two writes). `<point>` names a place passed to
`reached`, optionally with "#N" for its N-th passage ("manifest.json:written#2"). Unset, as it is
outside tests, `reached` does nothing. The process ends with `os._exit(KILLED)`: no cleanup runs, as
in a real crash.
"""

from __future__ import annotations

import os
from collections import Counter

VARIABLE = "QA_TEST_KILL_AT"
KILLED = 86  # the exit status of a process ended here, so a test can tell it reached its point
_passed: Counter[str] = Counter()


def reached(point: str) -> None:
    """End the process here when the test hook names this point (and, with "#N", this passage)."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    _passed[point] += 1
    if wanted in (point, f"{point}#{_passed[point]}"):
        os._exit(KILLED)
