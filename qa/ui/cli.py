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


def _progress_bar(desc: str, unit: str = "file"):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, current: str = "") -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=total < 20 or None)
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
    from qa.answering.question import clean_question
    from qa.ui.render import error_json

    from qa.index.indexer import check_corpus

    assistant = _assistant(args)
    check_corpus(assistant.settings.corpus)  # before the models load: a mistyped folder is said in a second
    if args.question is not None:
        return _answer(assistant, args.question, args.json, sources=args.scope)
    missing = None
    try:
        assistant.reader.warm_up()
    except ModelError as exc:  # no reader: each question gets its passages, and this is said once
        print(f"qa: {exc}", file=sys.stderr)
        missing = exc
    assistant.index()  # another error, of the embedder or the index, ends the command
    assistant.scope_documents(args.scope)  # as does a scope that matches nothing, before the first question
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
            code = max(code, _answer(assistant, question, args.json, missing, echo=True, sources=args.scope))
        except QuestionError as exc:  # this question only; the next may be fine
            code = 2
            if args.json:
                print(json.dumps({"question": question, **error_json(str(exc), [])}, ensure_ascii=False))
            else:
                print(f"qa: {exc}", file=sys.stderr)
        sys.stdout.flush()


def _answer(assistant, question: str, as_json: bool, missing: ModelError | None = None, echo: bool = False,
            sources: list[str] | None = None) -> int:
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
        hits = assistant.retrieve(question, sources=sources)[:3]
        if as_json:
            titles = assistant.titles([h.chunk.source for h in hits])
            print(json.dumps({**asked, **error_json(str(missing), hits, titles)}, ensure_ascii=False))
            return 2
        print("No answer: the reader is not available. The passages that match best:")
        print(passages_text(hits, 160))
        return 2
    answer = assistant.ask(question, sources)
    if as_json:
        cited = [a.source for a in (answer, *answer.alternatives) if a.source]
        titles = assistant.titles([*cited, *(h.chunk.source for h in answer.passages)])
        print(json.dumps({**asked, **answer_json(answer, titles)}, ensure_ascii=False))
    else:
        print(answer_text(answer, bold=sys.stdout.isatty()))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the passages that best match a query, with their files and offsets; needs no reader."""
    from qa.ui.render import passages_text

    assistant = _assistant(args, min_score_ratio=0.0)  # a search lists all top-k, read or not
    hits = assistant.retrieve(args.query, sources=args.scope)
    if args.json:
        titles = assistant.titles([h.chunk.source for h in hits])
        print(json.dumps([h.to_dict(titles.get(h.chunk.source)) for h in hits], ensure_ascii=False))
    else:
        print(passages_text(hits, 300))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """Ask every document of the scope the question (or each of --questions): a row a document, a column a
    question; as text, CSV or JSON. Documents are counted off on standard error as they are asked."""
    from pathlib import Path

    from qa.atomic import atomic_write_bytes
    from qa.ui.table import ask_table, csv_text, json_rows, read_questions, text_table

    if (args.question is None) == (args.questions is None):
        raise QAError("give the question to ask each document, or --questions FILE (not both)")
    questions = read_questions(Path(args.questions)) if args.questions else [args.question]
    if args.csv and (Path(args.csv).is_dir() or not Path(args.csv).absolute().parent.is_dir()):
        raise QAError(f"cannot write the table to {args.csv}: give a file in an existing folder")  # before the work
    assistant = _assistant(args)
    questions = [assistant.check_question(q) for q in questions]
    table = ask_table(assistant, questions, args.scope, progress=_progress_bar("asking", "document"))
    if args.csv:
        try:
            atomic_write_bytes(Path(args.csv), csv_text(table).encode("utf-8"))
        except OSError as exc:
            raise QAError(f"cannot write the table to {args.csv}: {exc.strerror or exc}") from exc
        print(f"{len(table.documents)} documents, {len(questions)} question(s): written to {args.csv}")
    elif args.json:
        print(json.dumps(json_rows(table), ensure_ascii=False))
    else:
        import shutil

        print(text_table(table, shutil.get_terminal_size().columns))
    failed = [a for column in table.answers for a in column if a.error]
    for answer in failed:
        print(f"qa: {answer.error}", file=sys.stderr)
    return 2 if failed else 0


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


# ---- arguments ----------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    """The command-line grammar, each command with the function that runs it."""
    from qa.ui.arguments import grammar

    return grammar({"index": cmd_index, "ask": cmd_ask, "search": cmd_search, "table": cmd_table, "eval": cmd_eval,
                    "serve": cmd_serve})


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
