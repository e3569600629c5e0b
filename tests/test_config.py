"""qa.config: defaults, `QA_*` environment overrides, and settings refused when out of range."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.errors import QAError, SettingsError


@pytest.fixture(autouse=True)
def no_qa_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone, not from QA_* variables of the shell that runs it."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("setting", [
    {"top_k": 0}, {"top_k": -1}, {"top_k": "5"}, {"top_k": 2.5},
    {"answer_threshold": 2.0}, {"answer_threshold": -0.1}, {"answer_threshold": float("nan")},
    {"dense_weight": float("nan")}, {"min_score_ratio": float("nan")}, {"stop_confidence": float("nan")},
    {"chunk_words": 0}, {"chunk_max_words": 100}, {"chunk_overlap_words": -1}, {"chunk_overlap_words": 150},
    {"candidates": 4}, {"max_question_chars": 0}, {"max_file_bytes": 0}, {"port": 0}, {"port": 65536},
    {"reader_batch_size": 0}, {"max_seq_len": 16}, {"doc_stride": 193}, {"doc_stride": -1},
    {"max_answer_tokens": 0}, {"alternatives": -1},
])
def test_out_of_range_settings_are_refused_by_name(setting: dict) -> None:
    name = next(iter(setting))
    with pytest.raises(SettingsError, match=f"^{name} must be"):
        Settings.load(**setting)
    with pytest.raises(SettingsError, match=f"^{name} must be"):  # a copy is checked too
        Settings.load().replace(**setting)


def test_a_setting_error_is_a_qa_error_and_a_value_error() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(top_k=0)
    assert isinstance(info.value, QAError) and isinstance(info.value, ValueError)
    assert str(info.value) == "top_k must be a whole number at least 1, not 0"


@pytest.mark.parametrize("setting", [
    {"answer_threshold": 0}, {"answer_threshold": 1.0}, {"answer_threshold": 0.5}, {"top_k": 1},
    {"top_k": 100}, {"chunk_words": 1, "chunk_max_words": 1, "chunk_overlap_words": 0},
    {"chunk_overlap_words": 149}, {"port": 1}, {"port": 65535}, {"doc_stride": 0}, {"doc_stride": 192},
    {"max_seq_len": 64, "doc_stride": 32}, {"alternatives": 0}, {"top_k": 8, "candidates": 8},
])
def test_settings_at_the_edges_of_their_ranges_are_taken(setting: dict) -> None:
    s = Settings.load(**setting)
    assert all(getattr(s, k) == v for k, v in setting.items())


def test_defaults_are_valid() -> None:
    s = Settings.load()
    assert s.answer_threshold is None and s.top_k == 5 and s.corpus.is_absolute()


@pytest.mark.parametrize(("name", "raw"), [("QA_CHUNK_WORDS", "abc"), ("QA_TOP_K", ""), ("QA_DENSE_WEIGHT", "much"),
                                           ("QA_ANSWER_THRESHOLD", "nan"), ("QA_PORT", "99999")])
def test_bad_environment_values_are_setting_errors(monkeypatch: pytest.MonkeyPatch, name: str, raw: str) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    message = str(info.value)
    assert "\n" not in message
    assert name in message or name.removeprefix("QA_").lower() in message


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CHUNK_WORDS", "80")
    monkeypatch.setenv("QA_ANSWER_THRESHOLD", "none")
    monkeypatch.setenv("QA_STOP_CONFIDENCE", "0.9")
    s = Settings.load()
    assert (s.chunk_words, s.answer_threshold, s.stop_confidence) == (80, None, 0.9)
    assert Settings.load(chunk_words=90).chunk_words == 90  # an explicit override wins


def test_defaults_in_the_checkout_and_for_another_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings.load()  # run from the checkout: seeds/ indexed in embeddings/, the reader in models/reader
    assert (s.corpus, s.index_dir) == (PROJECT_ROOT / "seeds", PROJECT_ROOT / "embeddings")
    assert s.reader_model == str(PROJECT_ROOT / "models" / "reader") and s.uploads_dir == s.index_dir / "uploads"
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a" / "notes").mkdir(parents=True)
    (tmp_path / "b" / "notes").mkdir(parents=True)
    a, b = Settings.load(corpus=tmp_path / "a" / "notes"), Settings.load(corpus=tmp_path / "b" / "notes")
    # Another folder's index goes to the cache, never into the folder; two folders of one name get two indexes.
    assert a.index_dir.parent == b.index_dir.parent == tmp_path / "cache" / "indexes"
    assert a.index_dir.name.startswith("notes-") and a.index_dir != b.index_dir
    assert Settings.load(corpus=tmp_path / "a" / "notes").index_dir == a.index_dir
    assert Settings.load(corpus=tmp_path / "a" / "notes", uploads_dir=tmp_path / "up").uploads_dir == tmp_path / "up"
