#!/usr/bin/env python3
"""Continue fine-tuning the bundled reader beyond Wikipedia, on the CPU: SQuAD mixed with the train parts of CUAD
(contracts, all 41 categories) and PolicyQA (privacy policies), as `qa.eval.splits` declares them.

The run is resumable: it saves itself every --every steps into --work (safetensors and JSON) and, started again
with the same options, goes on from the last save. At the end it writes a complete reader folder into --out
(fp16 safetensors, tokenizer, config), chooses its threshold as `train_reader.py` does (on the four held-back
SQuAD v2.0 articles, `qa.eval.splits.READER_THRESHOLD`), and prints the commands that judge it. It never writes
into models/reader: copy it there only if it wins on the held-out sets (scripts/README.md, "Adapting the
reader").

    .venv/bin/python scripts/adapt_reader.py --work ~/adapt            # about an hour per 5k windows here
    .venv/bin/python scripts/adapt_reader.py --work ~/adapt --dry-run  # the data and its counts only
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from script_common import ROOT, log  # noqa: E402  (first: the repository root on sys.path)
from adapt_data import realdoc_examples  # noqa: E402
from reader_card import calibrate  # noqa: E402
from reader_checkpoint import Checkpoint  # noqa: E402
from reader_data import Example, cut_answer_examples, negative_examples, questions_of, squad_examples  # noqa: E402
from reader_features import concat_features, drop_long_questions, featurize_examples  # noqa: E402
from reader_loop import train  # noqa: E402

from qa.answering.reader import CALIBRATION_FILE, Reader  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval import questions as qs  # noqa: E402
from qa.eval.splits import READER_THRESHOLD  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """This script's options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--base", type=Path, default=ROOT / "models" / "reader", help="the reader to continue from")
    p.add_argument("--work", type=Path, required=True, help="where the run saves itself (resumable)")
    p.add_argument("--out", type=Path, help="the adapted reader's folder (default: WORK/reader)")
    p.add_argument("--squad-dir", type=Path, default=SHARED / "squad")
    p.add_argument("--realdocs", type=Path, default=SHARED / "realdocs")
    m = p.add_argument_group("the mix (examples drawn from each source; reproducible with --seed)")
    m.add_argument("--squad", type=int, default=1800, help="SQuAD v1.1 train questions (their own paragraph)")
    m.add_argument("--squad-negatives", type=int, default=500, help="SQuAD v1.1 train no-answer examples")
    m.add_argument("--cuad", type=int, default=1800, help="CUAD train-part answers (any category)")
    m.add_argument("--cuad-negatives", type=int, default=700, help="CUAD train-part questions with no answer")
    m.add_argument("--policyqa", type=int, default=1400, help="PolicyQA train-part answers")
    t = p.add_argument_group("training")
    t.add_argument("--max-seq-len", type=int, default=384)
    t.add_argument("--stride", type=int, default=128)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=3e-5, help="peak learning rate: low, to keep what SQuAD taught")
    t.add_argument("--epochs", type=float, default=1)
    t.add_argument("--warmup", type=float, default=0.06)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the epochs decide)")
    t.add_argument("--every", type=int, default=20, help="save the run every this many steps")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--dry-run", action="store_true", help="build and count the data, then stop")
    args = p.parse_args(argv)
    args.out = args.out or args.work / "reader"
    return args


def draw(examples: list[Example], n: int, rng: random.Random) -> list[Example]:
    """A reproducible sample of `n` examples, in their order."""
    if n >= len(examples):
        return examples
    return [examples[i] for i in sorted(rng.sample(range(len(examples)), n))]


def build_mix(args, tokenizer) -> dict[str, list[Example]]:
    """The examples of each source, drawn to the sizes asked for."""
    rng, settings = random.Random(args.seed), Settings.load()
    squad = qs.squad_articles(args.squad_dir / "train-v1.1.json.gz")
    cuad = realdoc_examples(args.realdocs / "cuad" / "questions.jsonl", args.realdocs / "cuad" / "corpus", settings,
                            rng, "cuad", natural=args.realdocs / "cuad" / "factoid.jsonl")
    policy = realdoc_examples(args.realdocs / "policyqa" / "questions.jsonl", args.realdocs / "policyqa" / "corpus",
                              settings, rng, "policyqa")
    mix = {
        "squad v1.1 train": draw(squad_examples(squad, "squad"), args.squad, rng),
        "squad negatives": draw(negative_examples(squad, 0.1, rng) + cut_answer_examples(squad, 0.1, rng),
                                args.squad_negatives, rng),
        "cuad train part": draw([e for e in cuad if e.start is not None], args.cuad, rng),
        "cuad no-answer": draw([e for e in cuad if e.start is None], args.cuad_negatives, rng),
        "policyqa train part": draw(policy, args.policyqa, rng),
    }
    return {k: drop_long_questions(tokenizer, v, args.max_seq_len) for k, v in mix.items()}


def save_reader(args, model, tokenizer, result: dict, counts: dict) -> dict:
    """The adapted reader into --out, fp16, with its threshold chosen on the held-back SQuAD v2.0 articles."""
    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    base = json.loads((args.base / CALIBRATION_FILE).read_text(encoding="utf-8"))
    calib = args.out / CALIBRATION_FILE
    calib.write_text(json.dumps({"calibration": base["calibration"], "threshold": 0.0}), encoding="utf-8")
    articles = [a for a in qs.squad_articles(args.squad_dir / "dev-v2.0.json.gz") if a["title"] in READER_THRESHOLD]
    chosen = calibrate(Reader(str(args.out), max_seq_len=args.max_seq_len, doc_stride=args.stride),
                       questions_of(articles), 64)
    provenance = {
        "calibration": base["calibration"], "threshold": chosen["threshold"],
        "threshold_rule": base["threshold_rule"],
        "threshold_data": {"set": "dev-v2.0 train half, held-back articles", "n": chosen["metrics"]["n"],
                           "f1": chosen["f1"], "articles": sorted(READER_THRESHOLD)},
        "base": base["base"], "adapted_from": {k: base[k] for k in ("training", "commit", "device") if k in base},
        "adaptation": {"mix": counts, "settings": {k: str(v) if isinstance(v, Path) else v
                                                   for k, v in vars(args).items()}} | result,
    }
    calib.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return provenance


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out.resolve() == (ROOT / "models" / "reader").resolve():
        raise SystemExit("--out is the shipped reader: write elsewhere, and copy it there only if it wins")
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    t = time.perf_counter()
    mix = build_mix(args, tokenizer)
    feats = concat_features([featurize_examples(tokenizer, v, args.max_seq_len, args.stride) for v in mix.values() if v])
    counts = {k: len(v) for k, v in mix.items()} | {"windows": len(feats),
                                                    "no-answer windows": int((feats.start_positions == 0).sum())}
    log(f"data ready in {time.perf_counter() - t:.0f} s: {json.dumps(counts)}")
    if args.dry_run:
        return 0
    model = AutoModelForQuestionAnswering.from_pretrained(args.base, dtype=torch.float32)
    result = train(model, feats, args, "cpu", checkpoint=Checkpoint(args.work / "run", args.every))
    provenance = save_reader(args, model, tokenizer, result, counts)
    log(f"threshold {provenance['threshold']:.4f}; the reader is in {args.out}. Judge it against models/reader:")
    for cmd in judge_commands(args.out):
        print("   ", cmd)
    return 0


def judge_commands(reader: Path) -> list[str]:
    """The held-out comparisons that decide whether the adapted reader ships (run each with both readers)."""
    rd = "../shared/data/realdocs"
    return [f"qa eval ../shared/data/squad/dev-v1.1.json.gz --reader-only --split report --threshold 0 --reader {reader} --json",
            f"qa eval {rd}/cuad/factoid.jsonl --corpus {rd}/cuad/corpus --split report --per-document --threshold 0 "
            f"--reader {reader} --json",
            f"qa eval {rd}/policyqa/questions.jsonl --corpus {rd}/policyqa/corpus --split report --per-document "
            f"--threshold 0 --reader {reader} --json"]


if __name__ == "__main__":
    sys.exit(main())
