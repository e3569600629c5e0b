"""The `qa` command: index, ask, eval and serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from qa.errors import ModelError, QAError, QuestionError


def _quiet_libraries() -> None:
    # Library progress bars, load reports and pypdf's parse warnings (a damaged PDF gets our own skip
    # message) are noise on a command line; our own progress stays.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.WARNING, format="qa: %(message)s")
    for name in ("transformers", "sentence_transformers", "httpx", "huggingface_hub", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _settings(args: argparse.Namespace) -> dict:
    return {k: v for k, v in {
        "corpus": getattr(args, "corpus", None), "index_dir": getattr(args, "index_dir", None),
        "reader_model": args.reader, "selector_model": args.selector, "embedder_model": args.embedder,
        "retrieval": args.retrieval,
        "answer_threshold": args.threshold, "top_k": args.top_k,
        "host": getattr(args, "host", None), "port": getattr(args, "port", None),  # qa serve; checked there
        "store": getattr(args, "store", None),
    }.items() if v is not None}


def _assistant(args: argparse.Namespace, **extra):
    from qa.pipeline import Assistant

    return Assistant(**{**_settings(args), **extra})


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, current: str = "") -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=total < 20 or None)
        bar.n = done
        bar.set_postfix_str(current[-40:], refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


# ---- commands ------------------------------------------------------------------------------------

def cmd_index(args: argparse.Namespace) -> int:
    """Build or refresh the index."""
    assistant = _assistant(args)
    if getattr(args, "ray", None) is not None:
        from qa.index.ray_indexer import index_with_ray

        report = index_with_ray(assistant.store, assistant.settings, args.ray or None, rebuild=args.rebuild)
    else:
        report = assistant.index(rebuild=args.rebuild, progress=_progress_bar("indexing"))
    print(f"{assistant.settings.corpus}: {len(report.added)} added, {len(report.updated)} updated, "
          f"{len(report.removed)} removed, {report.unchanged} unchanged, {len(report.skipped)} skipped; "
          f"{report.chunks} chunks in {_where(assistant.settings)}")
    for s in report.skipped:
        print(f"  skipped {s.source}: it {s.reason}")
    return 0


def _where(settings) -> str:
    return str(settings.index_dir) if settings.store == "local" else settings.store


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question; without one, answer each line of standard input, the models loaded once."""
    from qa.pipeline import clean_question
    from qa.ui.render import error_json

    from qa.index.indexer import check_corpus

    assistant = _assistant(args)
    check_corpus(assistant.settings.corpus)  # before the models load: a mistyped folder is said in a second
    if args.question is not None:
        return _answer(assistant, args.question, args.json)
    missing = None
    try:
        assistant.reader.warm_up()
    except ModelError as exc:  # no reader: each question gets its passages, and this is said once
        print(f"qa: {exc}", file=sys.stderr)
        missing = exc
    assistant.index()  # another error, of the embedder or the index, ends the command
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the documents, one question a line; Ctrl-D ends.", file=sys.stderr)
    code = 0
    while True:
        try:
            question = input("? " if interactive else "")
        except EOFError:
            return code
        if not question.strip():
            continue
        question = clean_question(question)  # so that it can be echoed: no stray "\r" or undecodable bytes
        try:
            code = max(code, _answer(assistant, question, args.json, missing, echo=True))
        except QuestionError as exc:  # this question only; the next may be fine
            code = 2
            if args.json:
                print(json.dumps({"question": question, **error_json(str(exc), [])}, ensure_ascii=False))
            else:
                print(f"qa: {exc}", file=sys.stderr)
        sys.stdout.flush()


def _answer(assistant, question: str, as_json: bool, missing: ModelError | None = None, echo: bool = False) -> int:
    """Print the answer to one question and its citation; the passages instead when there is no reader.

    `echo` puts the question in the JSON too, so that replies to many questions can be told apart.
    """
    from qa.ui.render import answer_json, answer_text, error_json, passages_text

    asked = {"question": question} if echo else {}
    if missing is None:
        assistant.check_question(question)  # a bad question is said as such, reader or not
        try:
            assistant.reader.warm_up()
        except ModelError as exc:  # the reader's alone: another model's error is not a missing reader
            print(f"qa: {exc}", file=sys.stderr)
            missing = exc
    if missing is not None:
        # No reader, so no span to cite; the passages that match still carry their files and offsets.
        hits = assistant.retrieve(question)[:3]
        if as_json:
            titles = assistant.titles([h.chunk.source for h in hits])
            print(json.dumps({**asked, **error_json(str(missing), hits, titles)}, ensure_ascii=False))
            return 2
        print("No answer: the reader is not available. The passages that match best:")
        print(passages_text(hits, 160))
        return 2
    answer = assistant.ask(question)
    if as_json:
        sources = [a.source for a in (answer, *answer.alternatives) if a.source]
        titles = assistant.titles([*sources, *(h.chunk.source for h in answer.passages)])
        print(json.dumps({**asked, **answer_json(answer, titles)}, ensure_ascii=False))
    else:
        print(answer_text(answer, bold=sys.stdout.isatty()))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the passages that best match a query, with their files and offsets; needs no reader."""
    from qa.ui.render import passages_text

    assistant = _assistant(args, min_score_ratio=0.0)  # a search lists all top-k, read or not
    hits = assistant.retrieve(args.query)
    if args.json:
        titles = assistant.titles([h.chunk.source for h in hits])
        print(json.dumps([h.to_dict(titles.get(h.chunk.source)) for h in hits], ensure_ascii=False))
    else:
        print(passages_text(hits, 300))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a question set: JSONL over a corpus, or SQuAD (reader-only or end to end)."""
    from qa.ui.evaluation import run_eval

    return run_eval(args, _assistant, _progress_bar)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the browser chat."""
    assistant = _assistant(args)  # its settings are checked before the chat's slow imports
    from qa.ui.chat import serve

    serve(assistant, host=assistant.settings.host, port=assistant.settings.port)
    return 0


# ---- arguments -----------------------------------------------------------------------------------

def _positive(text: str) -> int:
    """An argument that is a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
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
    sp.set_defaults(run=cmd_index)

    sp = sub.add_parser("ask", help="answer a question; without one, each line of standard input")
    common(sp)
    sp.add_argument("question", nargs="?", help="omit it to ask many, one a line, with the models loaded once")
    sp.add_argument("--json", action="store_true", help="print the answer as JSON")
    sp.set_defaults(run=cmd_ask)

    sp = sub.add_parser("search", help="show the passages that best match a query, with their files (no reader)")
    common(sp)
    sp.add_argument("query")
    sp.add_argument("--json", action="store_true", help="print the passages as a JSON list")
    sp.set_defaults(run=cmd_search)

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
    sp.set_defaults(run=cmd_eval)

    sp = sub.add_parser("serve", help="start the browser chat")
    common(sp)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.set_defaults(run=cmd_serve)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `qa` console script."""
    args = parser().parse_args(argv)
    _quiet_libraries()
    try:
        return args.run(args)
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
