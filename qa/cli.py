"""The `qa` command: index, ask, eval and serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

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
        "reader_model": args.reader, "embedder_model": args.embedder, "retrieval": args.retrieval,
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
        from qa.ray_indexer import index_with_ray

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

    assistant = _assistant(args)
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
                print(json.dumps({"question": question, "text": "", "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"qa: {exc}", file=sys.stderr)
        sys.stdout.flush()


def _answer(assistant, question: str, as_json: bool, missing: ModelError | None = None, echo: bool = False) -> int:
    """Print the answer to one question and its citation; the passages instead when there is no reader.

    `echo` puts the question in the JSON too, so that replies to many questions can be told apart.
    """
    asked = {"question": question} if echo else {}
    if missing is None:
        assistant.check_question(question)  # a bad question is said as such, reader or not
        try:
            assistant.reader.warm_up()
        except ModelError as exc:  # the reader's alone: another model's error is not a missing reader
            print(f"qa: {exc}", file=sys.stderr)
            missing = exc
    if missing is None:
        answer = assistant.ask(question)
    else:
        # No reader, so no span to cite; the passages that match still carry their files and offsets.
        hits = assistant.retrieve(question)[:3]
        if as_json:
            print(json.dumps({**asked, "text": "", "error": str(missing), "passages": [_passage(h) for h in hits]},
                             ensure_ascii=False))
            return 2
        print("No answer: the reader is not available. The passages that match best:")
        _print_passages(hits, 160)
        return 2
    if as_json:
        fields = ("text", "score", "source", "start", "end", "context")
        out = {**asked, **{k: getattr(answer, k) for k in fields}}
        out["alternatives"] = [{k: getattr(a, k) for k in fields[:5]} for a in answer.alternatives]
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if answer.abstained:
        print(f"The documents do not answer this (no-answer confidence {answer.score:.2f}).")
        if answer.alternatives:  # what the reader found, for a user who judges the threshold too cautious
            best = answer.alternatives[0]
            print(f"  best candidate, below the threshold: {best.text!r} ({best.score:.2f}) in {best.source}")
        for hit in answer.passages[:3]:
            print(f"  closest: {hit.chunk.source}: {_shorten(hit.chunk.text, 160)}")
        return 0
    print(f"Answer: {answer.text}")
    print(f"Score:  {answer.score:.2f} ({answer.confidence} confidence)")
    print(f"Source: {answer.source}, characters {answer.start}-{answer.end}")
    print(f"        {marked_sentence(answer, bold=sys.stdout.isatty())}")
    for alt in answer.alternatives:
        print(f"  also: {alt.text!r} ({alt.score:.2f}) in {alt.source}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the passages that best match a query, with their files and offsets; needs no reader."""
    hits = _assistant(args, min_score_ratio=0.0).retrieve(args.query)  # a search lists all top-k, read or not
    if args.json:
        print(json.dumps([_passage(h) for h in hits], ensure_ascii=False))
    else:
        _print_passages(hits, 300)
    return 0


def _passage(hit) -> dict:
    c = hit.chunk
    return {"source": c.source, "start": c.start, "end": c.end, "score": round(hit.score, 4), "text": c.text}


def _print_passages(hits: list, width: int) -> None:
    for rank, hit in enumerate(hits, 1):
        c = hit.chunk
        print(f"{rank}. {c.source}, characters {c.start}-{c.end} (match {hit.score:.2f})\n   {_shorten(c.text, width)}")


def marked_sentence(answer, bold: bool = False) -> str:
    """The sentence of the context that holds the answer, with the answer marked."""
    from qa.chunking import sentence_spans

    ctx, at = answer.context, answer.start - answer.context_start
    end = at + len(answer.text)
    s, e = next(((s, e) for s, e in sentence_spans(ctx) if s <= at < e), (0, len(ctx)))
    s, e = min(s, at), max(e, end)
    left, right = ("\033[1m", "\033[0m") if bold else ("**", "**")
    return f"{ctx[s:at]}{left}{ctx[at:end]}{right}{ctx[end:e]}"


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a question set: JSONL over a corpus, or SQuAD (reader-only or end to end)."""
    from tqdm import tqdm

    from qa import evaluate as ev
    from qa.atomic import atomic_write_bytes

    path = Path(args.file)
    if not path.is_file():
        raise QAError(f"no question set at {path}")
    if args.choose_threshold and (args.threshold is not None or args.retrieval_only):
        raise QAError("--choose-threshold reads every question without abstaining and chooses the threshold "
                      "itself: drop --threshold and --retrieval-only")
    if args.predictions and (Path(args.predictions).is_dir() or not Path(args.predictions).parent.is_dir()):
        # Said before the work, not after it.
        raise QAError(f"cannot write predictions to {args.predictions}: give a file in an existing folder")
    try:
        if ev.is_squad(path):
            squad = ev.load_squad(path, split=args.split)
            questions = ev.sample(squad.questions, args.limit)
        else:
            squad = None
            questions = ev.sample(ev.load_jsonl(path), args.limit)
    except ValueError as exc:  # a malformed question set: say where, without a traceback
        raise QAError(str(exc)) from exc
    if not questions:
        raise QAError(f"{path} holds no questions")

    never_abstain = {"answer_threshold": 0.0} if args.choose_threshold else {}
    if args.reader_only:
        if squad is None:
            raise QAError("--reader-only needs a SQuAD file: it reads each question against its gold paragraph")
        assistant = _assistant(args, **never_abstain)  # its reader, from the settings; nothing else loads
        predictions, seconds = ev.timed(ev.run_reader_only, assistant.reader, questions,
                                        assistant.settings.answer_threshold)
    else:
        with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
            extra = {}
            if squad is not None:  # the paragraphs become the corpus, in a temporary index
                work = Path(args.workdir) if args.workdir else Path(tmp)
                ev.write_corpus(squad.paragraphs, work / "corpus")
                extra = {"corpus": work / "corpus", "index_dir": work / "index"}
            assistant = _assistant(args, **extra, **never_abstain)
            _check_questions(assistant, questions, path)
            if not args.retrieval_only:
                try:  # before any indexing, which can take long
                    assistant.reader.warm_up()
                except ModelError as exc:
                    raise ModelError(f"{exc} To measure the retriever alone, add --retrieval-only.") from exc
            assistant.index(progress=_progress_bar("indexing"))
            if args.retrieval_only:
                predictions, seconds = ev.timed(ev.run_retrieval, assistant, questions)
            else:
                bar = tqdm(total=len(questions), desc="asking", unit="q", file=sys.stderr, disable=None)
                predictions, seconds = ev.timed(ev.run_pipeline, assistant, questions,
                                                progress=lambda done, total: bar.update(1))
                bar.close()
    chosen = None
    if args.choose_threshold:
        chosen = ev.choose_threshold(predictions)
        predictions = ev.at_threshold(predictions, chosen)
    if args.retrieval_only:
        metrics = ev.score_retrieval(predictions)
    else:
        metrics = ev.score(predictions, reader_only=args.reader_only)
    if not args.reader_only:
        metrics["retrieval"] = assistant.settings.retrieval
    if chosen is not None:
        metrics["threshold"] = chosen  # in full: a rounded one may answer a question fewer or more
    metrics["seconds_per_question"] = round(seconds / max(1, metrics["n"]), 4)
    for key, value in metrics.items():
        if value is not None:
            print(f"{key:>20}: {value}")
    if args.json:
        print(json.dumps(metrics))
    if args.predictions:  # after the metrics, which a failed write must not take with it
        rows = ev.prediction_rows(predictions, reading=not args.retrieval_only)
        try:
            atomic_write_bytes(Path(args.predictions), "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                               for r in rows).encode("utf-8"))
        except OSError as exc:
            raise QAError(f"cannot write predictions to {args.predictions}: {exc.strerror or exc}") from exc
    return 0


def _check_questions(assistant, questions: list, path: Path) -> None:
    """Refuse, before any work, a question the assistant would refuse mid-run, and say where it stands."""
    for q in questions:
        try:
            assistant.check_question(q.question)
        except QuestionError as exc:
            raise QuestionError(f"{path}, {q.where}: {exc}") from exc


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the browser chat."""
    import importlib.util

    from qa.config import PROJECT_ROOT

    assistant = _assistant(args)  # its settings are checked before the chat's slow imports
    spec = importlib.util.spec_from_file_location("qa_app", PROJECT_ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app.serve(assistant, host=assistant.settings.host, port=assistant.settings.port)
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
        sp.add_argument("--embedder", help="sentence-transformers model: a local folder or a hub name")
        sp.add_argument("--retrieval", choices=("hybrid", "dense", "bm25"), help="how passages are found")
        sp.add_argument("--threshold", type=float,
                        help="abstain when the answer's confidence against no answer is below this (0 always answers)")
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
                    help="SQuAD v2.0: the half of the articles to use (report = never trained or calibrated on)")
    sp.add_argument("--workdir", help="SQuAD end to end: keep the paragraph corpus and its index here")
    sp.add_argument("--predictions", metavar="FILE",
                    help="also write one JSON line per question: its gold, the answer, the passages' files, scores")
    sp.add_argument("--choose-threshold", action="store_true",
                    help="read without abstaining, then report the metrics at the threshold that gives this set "
                         "its best F1, and that threshold")
    sp.add_argument("--json", action="store_true", help="end with the metrics as one JSON line")
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
