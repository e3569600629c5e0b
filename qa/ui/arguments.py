"""The grammar of the `qa` command: its commands, their arguments and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _positive(text: str) -> int:
    """An argument that is a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def grammar(commands: dict[str, Callable[[argparse.Namespace], int]]) -> argparse.ArgumentParser:
    """The command-line grammar; `commands` names the function that runs each command."""
    p = argparse.ArgumentParser(prog="qa", description="Exact, cited answers from a folder of documents.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, corpus: bool = True) -> None:
        if corpus:
            sp.add_argument("--corpus", help="folder of documents (default: seeds/, or QA_CORPUS)")
            sp.add_argument("--index-dir", help="where the index lives (default: embeddings/, or QA_INDEX_DIR)")
        sp.add_argument("--reader", help="extractive QA model: a local folder or a hub name")
        sp.add_argument("--selector", help="answer selector folder, trained for that reader; '' ranks by the "
                                           "reader's own confidence")
        sp.add_argument("--embedder", help="sentence-transformers model: a local folder or a hub name")
        sp.add_argument("--retrieval", choices=("hybrid", "dense", "bm25"), help="how passages are found")
        sp.add_argument("--threshold", type=float,
                        help="abstain when the likeliest answer's probability of being right is below this "
                             "(0 always answers; with --reader-only, the reader's confidence against no answer)")
        sp.add_argument("--top-k", type=int, help="at most this many passages are read (qa search: shown)")

    sp = sub.add_parser("index", help="build or refresh the index")
    common(sp)
    sp.add_argument("--rebuild", action="store_true", help="embed every document again")
    sp.set_defaults(run=commands["index"])

    sp = sub.add_parser("ask", help="answer a question; without one, each line of standard input")
    common(sp)
    sp.add_argument("question", nargs="?", help="omit it to ask many, one a line, with the models loaded once")
    sp.add_argument("--json", action="store_true", help="print the answer as JSON")
    scope(sp)
    sp.set_defaults(run=commands["ask"])

    sp = sub.add_parser("search", help="show the passages that best match a query, with their files (no reader)")
    common(sp)
    sp.add_argument("query")
    sp.add_argument("--json", action="store_true", help="print the passages as a JSON list")
    scope(sp)
    sp.set_defaults(run=commands["search"])

    sp = sub.add_parser("table", help="ask every document (of a scope) the same question: a table of their answers")
    common(sp)
    sp.add_argument("question", nargs="?", help="the question to ask each document (or --questions)")
    sp.add_argument("--questions", metavar="FILE",
                    help="ask these questions instead, one column each: a text file, one question a line, or a JSONL "
                         'question set (its distinct "question"s, in order)')
    scope(sp)
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write the table as CSV to FILE")
    out.add_argument("--json", action="store_true", help="print the table as a JSON list, one object a document")
    sp.set_defaults(run=commands["table"])

    sp = sub.add_parser("eval", help="score a question set (JSONL, or SQuAD .json/.json.gz)")
    common(sp)
    sp.add_argument("file")
    sp.add_argument("--reader-only", action="store_true", help="SQuAD: read each question against its paragraph")
    sp.add_argument("--retrieval-only", action="store_true",
                    help="measure the retriever alone (recall@1, recall@5, MRR of the gold source); no reading")
    sp.add_argument("--limit", type=_positive, help="a reproducible subset of this many questions")
    sp.add_argument("--split", choices=("all", "report", "train"), default="all",
                    help="the part of the set to use, as qa.eval.splits declares it: report = never trained, tuned or "
                         "calibrated on (SQuAD dev: the 35 clean articles; a set with \"doc\" keys: by document), "
                         "train = the rest")
    sp.add_argument("--per-document", action="store_true",
                    help='ask each question of its own document alone (the "doc" key of a JSONL set), not of the '
                         "whole folder")
    sp.add_argument("--workdir", help="SQuAD end to end: keep the paragraph corpus and its index here")
    sp.add_argument("--predictions", metavar="FILE",
                    help="also write one JSON line per question: its gold, the answer, the passages' files, scores")
    sp.add_argument("--choose-threshold", action="store_true",
                    help="read without abstaining, then report the metrics at the threshold that gives this set "
                         "its best F1, and that threshold")
    sp.add_argument("--json", action="store_true", help="end with the metrics as one JSON line")
    sp.add_argument("--report", metavar="FILE.html",
                    help="also write a self-contained HTML report: curves, reliability, the questions that failed")
    sp.set_defaults(run=commands["eval"])

    sp = sub.add_parser("serve", help="start the browser chat")
    common(sp)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.set_defaults(run=commands["serve"])
    add_scale_options(sub)
    return p


def add_scale_options(sub: argparse._SubParsersAction) -> None:
    """`--store` on every command, and `--ray [ADDRESS]` on `qa index` (README, "Milvus and Ray")."""
    for name, sp in sub.choices.items():
        sp.add_argument("--store", help='the index backend: "local" (default, or QA_STORE), or a Milvus URI: '
                                        "a file ending in .db (Milvus Lite) or http://host:19530")
        if name == "index":
            sp.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                            help="index on Ray Data: a local Ray without ADDRESS, else the cluster at ADDRESS")




def scope(sp: argparse.ArgumentParser) -> None:
    """`--in PATTERN`, repeatable: the documents asked."""
    sp.add_argument("--in", dest="scope", action="append", metavar="PATTERN",
                    help="ask only the documents this file name or glob pattern (relative to the corpus) names, such "
                         "as 'contracts/*.txt'; give it again for more")
