"""`qa eval`: run a question set through the pipeline (or the reader alone), print the metrics, and write the
predictions and the HTML report."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from qa.errors import ModelError, QAError, QuestionError

REPORT_RECALL_K = 20  # the report's recall@k runs from 1 to this


def run_eval(args: argparse.Namespace, make_assistant: Callable, progress_bar: Callable) -> int:
    """`qa eval`: score a question set (JSONL over a corpus, or SQuAD, reader-only or end to end), print the
    metrics, and write the predictions and the HTML report when asked."""
    from tqdm import tqdm

    from qa.eval import metrics as ev
    from qa.eval import questions as qs
    from qa.atomic import atomic_write_bytes

    path = Path(args.file)
    if not path.is_file():
        raise QAError(f"no question set at {path}")
    if args.choose_threshold and (args.threshold is not None or args.retrieval_only):
        raise QAError("--choose-threshold reads every question without abstaining and chooses the threshold "
                      "itself: drop --threshold and --retrieval-only")
    for what, out in (("predictions", args.predictions), ("the report", args.report)):
        if out and (Path(out).is_dir() or not Path(out).absolute().parent.is_dir()):
            # Said before the work, not after it.
            raise QAError(f"cannot write {what} to {out}: give a file in an existing folder")
    try:
        if qs.is_squad(path):
            squad = qs.load_squad(path, split=args.split)
            questions = qs.sample(squad.questions, args.limit)
        else:
            squad = None
            questions = qs.sample(qs.split_questions(qs.load_jsonl(path), args.split, path), args.limit)
    except ValueError as exc:  # a malformed question set: say where, without a traceback
        raise QAError(str(exc)) from exc
    if not questions:
        raise QAError(f"{path} holds no questions")
    per_document = getattr(args, "per_document", False)
    if per_document:
        _check_documents_named(path, squad, questions, args)

    never_abstain = {"answer_threshold": 0.0} if args.choose_threshold else {}
    deep: list | None = None  # for the report: retrieval 20 deep, for recall@k
    texts: dict[str, str] = {}  # for the report: the documents its questions cite or should
    if args.reader_only:
        if squad is None:
            raise QAError("--reader-only needs a SQuAD file: it reads each question against its gold paragraph")
        assistant = make_assistant(args, **never_abstain)  # its reader, from the settings; nothing else loads
        predictions, seconds = ev.timed(ev.run_reader_only, assistant.reader, questions,
                                        assistant.settings.answer_threshold)
    else:
        with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
            extra = {}
            if squad is not None:  # the paragraphs become the corpus, in a temporary index
                work = Path(args.workdir) if args.workdir else Path(tmp)
                qs.write_corpus(squad.paragraphs, work / "corpus")
                extra = {"corpus": work / "corpus", "index_dir": work / "index"}
            assistant = make_assistant(args, **extra, **never_abstain)
            _check_questions(assistant, questions, path)
            if not args.retrieval_only:
                try:  # before any indexing, which can take long
                    assistant.reader.warm_up()
                except ModelError as exc:
                    raise ModelError(f"{exc} To measure the retriever alone, add --retrieval-only.") from exc
            assistant.index(progress=progress_bar("indexing"))
            if per_document:
                _check_documents_indexed(assistant, questions, path)
            if args.retrieval_only:
                predictions, seconds = ev.timed(ev.run_retrieval, assistant, questions, per_document=per_document)
            else:
                bar = tqdm(total=len(questions), desc="asking", unit="q", file=sys.stderr, disable=None)
                predictions, seconds = ev.timed(ev.run_pipeline, assistant, questions,
                                                progress=lambda done, total: bar.update(1), per_document=per_document)
                bar.close()
            if args.report:  # while a SQuAD run's temporary index is still there
                deeper = make_assistant(args, **extra, top_k=REPORT_RECALL_K, min_score_ratio=0.0)
                deep = ev.run_retrieval(deeper, questions, per_document=per_document)
                texts = {s: t for s in {x for p in predictions for x in (p.source, p.question.source) if x}
                         if (t := assistant.document_text(s)) is not None}
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
    if per_document:
        metrics["per_document"] = True
    if chosen is not None:
        metrics["threshold"] = chosen  # in full: a rounded one may answer a question fewer or more
    metrics["seconds_per_question"] = round(seconds / max(1, metrics["n"]), 4)
    for key, value in metrics.items():
        if isinstance(value, dict):  # figures by category
            print(f"{key:>20}:", *(f"{'':>22}{k}: {v}" for k, v in value.items()), sep="\n")
        elif value is not None:
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
    if args.report:
        from qa.eval.report import write_report

        threshold = chosen if chosen is not None else _answered_at(assistant, args.reader_only)
        try:
            write_report(Path(args.report), metrics, predictions, deep, texts, threshold, title=path.name,
                         top_k=assistant.settings.top_k)
        except OSError as exc:
            raise QAError(f"cannot write the report to {args.report}: {exc.strerror or exc}") from exc
    return 0


def _check_documents_named(path: Path, squad, questions: list, args: argparse.Namespace) -> None:
    """--per-document needs a JSONL set whose every question names its document."""
    if squad is not None or args.reader_only:
        raise QAError("--per-document asks each question of its own document, named by the \"doc\" key of a JSONL "
                      "question set; a SQuAD file has none")
    if missing := next((q for q in questions if not q.doc), None):
        raise QAError(f"{path}, {missing.where}: --per-document asks each question of its own document, and this "
                      'question names none (no "doc")')


def _check_documents_indexed(assistant, questions: list, path: Path) -> None:
    """Refuse, before any question is asked, a question whose document is not in the index."""
    indexed = assistant.documents()
    if missing := next((q for q in questions if q.doc not in indexed), None):
        raise QAError(f"{path}, {missing.where}: its document {missing.doc!r} is not among the {len(indexed):,} indexed "
                      f"documents of {assistant.settings.corpus}")


def _check_questions(assistant, questions: list, path: Path) -> None:
    """Refuse, before any work, a question the assistant would refuse mid-run, and say where it stands."""
    for q in questions:
        try:
            assistant.check_question(q.question)
        except QuestionError as exc:
            raise QuestionError(f"{path}, {q.where}: {exc}") from exc


def _answered_at(assistant, reader_only: bool) -> float:
    """The threshold the answers were given at: the setting; else the reader's own when it read alone, else the
    assistant's (the selector's, or the reader's when there is none)."""
    if reader_only:
        if assistant.settings.answer_threshold is not None:
            return assistant.settings.answer_threshold
        assistant.reader.warm_up()
        return assistant.reader.threshold
    return assistant.threshold
