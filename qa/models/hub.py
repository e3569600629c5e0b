"""Models given by hub name: from the local model cache when they are there, else from the hub, failing fast
when the hub cannot be reached."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from qa.errors import ModelError

T = TypeVar("T")
PROBE_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_unreachable() -> str | None:
    """Why the model hub cannot be reached, or None when it can (or a proxy stands between)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return None  # only the proxy knows; the download itself will say
    url = urlsplit(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        return f"{url.hostname}:{port} cannot be reached ({exc})"
    return None


def load_by_name(load: Callable[[bool], T], name: str, kind: str) -> T:
    """`load(local_files_only)` from the model cache, else from the hub once it is known to answer.

    Without the probe, the hub client retries an unreachable hub for about 30 seconds before it fails.
    """
    try:
        return load(True)
    except (OSError, ValueError):
        pass
    reason = hub_unreachable()
    if reason:
        raise ModelError(f"the {kind} {name!r} is neither a local folder nor in the model cache, and the model "
                         f"hub cannot be reached: {reason}. Give a local folder, or download the model where a "
                         "hub is reachable.")
    return load(False)
