"""Pieces and calls: archives cut into sha256-checked pieces, grouped into device calls, and joined back."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from device_parts import join_parts, split_folder
from script_common import log
from teacher_body import BODY_FILE, unpack_teacher

MANIFEST = "manifest.json"


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
        parts = split_folder(folder, staging, part_bytes, name=name)
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
        join_parts(pieces_dir, dest / name.removesuffix(".tar"), name=name)
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
