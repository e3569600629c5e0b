"""qa: exact, cited answers to questions about a folder of documents."""

import os

# Offline first: huggingface_hub otherwise asks the hub for a registry the first time it builds request
# headers, even to load a model from its local cache. Set HF_HUB_DISABLE_TELEMETRY=0 to allow it.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from qa.config import Settings
from qa.errors import QAError
from qa.types import Answer

__all__ = ["Answer", "Assistant", "QAError", "Settings", "answer", "build_index"]


def __getattr__(name: str):
    # The pipeline pulls in torch and transformers; import it only when it is used.
    if name in ("Assistant", "answer"):
        from qa import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def build_index(corpus: str | None = None, index_dir: str | None = None, rebuild: bool = False, **settings):
    """Build or refresh the index of a corpus folder and return what changed."""
    from qa.pipeline import Assistant

    return Assistant(corpus, index_dir, **settings).index(rebuild=rebuild)
