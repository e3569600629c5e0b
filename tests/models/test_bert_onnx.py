"""qa.models.bert_onnx and qa.models.reader: the reader's graph gives transformers' logits, is cached, and fails clearly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.models.bert_onnx import BertOnnx, graph_path, is_bert_folder
from qa.errors import ModelError
from qa.answering.reader import featurize
from qa.models.reader import load_qa_model
from qa.models.tokens import load_tokenizer

READER = Path(__file__).resolve().parents[2] / "models" / "reader"
QUESTIONS = ["Who built the lighthouse?", "When was it built?", "Wer baute den Leuchtturm?"]
PASSAGES = ["The Old Harbour Lighthouse was built by Thomas Stevenson in 1854 on Gull Point. " * 30,
            "Short passage.", "Café Rosen’s bakery – opened 1954 – sells 12 kinds of bread. 上海海关学院."]


def test_the_graph_gives_transformers_logits(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering

    windows = featurize(load_tokenizer(READER), QUESTIONS, PASSAGES, 128, 32)
    inputs = windows.inputs
    assert len(windows.passage) > 3 and (inputs["attention_mask"] == 0).any()  # windows of a long passage, padding
    ours = BertOnnx(READER, "qa", tmp_path)(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    model = AutoModelForQuestionAnswering.from_pretrained(READER).float().eval()
    with torch.inference_mode():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    reference = np.stack([out.start_logits.numpy(), out.end_logits.numpy()], axis=-1)
    real = inputs["attention_mask"].astype(bool)
    np.testing.assert_allclose(ours[real], reference[real], atol=2e-4)


def test_the_graph_is_built_once_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    BertOnnx(READER, "qa", tmp_path)
    path = graph_path(READER, "qa", tmp_path)
    built = path.stat().st_mtime_ns
    ids = np.array([[101, 2040, 102, 1996, 102]])
    first = BertOnnx(READER, "qa", tmp_path)(ids, np.ones_like(ids))
    assert path.stat().st_mtime_ns == built  # loaded from the cache
    path.write_bytes(path.read_bytes()[:1000])  # a damaged cache file
    np.testing.assert_allclose(BertOnnx(READER, "qa", tmp_path)(ids, np.ones_like(ids)), first)
    assert path.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left beside it


def test_a_cache_that_cannot_be_written_still_answers(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where the cache folder should be")
    ids = np.array([[101, 2040, 102]])
    assert BertOnnx(READER, "qa", tmp_path / "file" / "onnx")(ids, np.ones_like(ids)).shape == (1, 3, 2)


def test_changed_weights_get_another_graph(tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    shutil.copytree(READER, folder)
    before = graph_path(folder, "qa", tmp_path)
    os.utime(folder / "model.safetensors", ns=(1, 1))
    assert graph_path(folder, "qa", tmp_path) != before
    assert graph_path(folder, "hidden", tmp_path) != graph_path(folder, "qa", tmp_path)


def test_a_reader_without_its_head_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "headless"
    shutil.copytree(READER, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    weights = load_file(READER / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("qa_outputs")}, folder / "model.safetensors")
    assert is_bert_folder(folder, "qa")
    with pytest.raises(ModelError, match="no trained question-answering head"):
        load_qa_model(str(folder))


def test_only_a_plain_bert_takes_the_graph(tmp_path: Path) -> None:
    assert is_bert_folder(READER, "qa") and not is_bert_folder(READER, "hidden")
    folder = tmp_path / "reader"
    shutil.copytree(READER, folder)
    config = json.loads((folder / "config.json").read_text())
    for change in ({"model_type": "roberta"}, {"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}):
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        assert not is_bert_folder(folder, "qa"), change
