"""train_reader's examples: answers placed and disambiguated, no-answer examples, the v2.0 train-half split."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from qa.answering.normalize import normalize_answer
from qa.eval import questions as qs
from qa.eval.splits import report_half
from qa.ingest.chunking import sentence_spans


# ---- examples ------------------------------------------------------------------------------------

@dataclass
class Example:
    """One training pair; `start` is None for a no-answer example."""

    id: str
    question: str
    context: str
    start: int | None
    text: str = ""
    kind: str = "squad"  # squad, negative, v2, v2-impossible

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.text)


_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("""a an the of in on at to for from by with and or but is are was were be been being do does
did has have had what which who whom whose when where why how that this these those it its as into than then
there their they he she his her him we our you your i not no can could would should will may might""".split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text`, less stop words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def occurrences(context: str, text: str) -> list[int]:
    """Character offsets where `text` occurs in `context` as whole words ("one" not inside "someone");
    every occurrence if none is a whole word."""
    found, i = [], context.find(text)
    while i != -1 and text:
        found.append(i)
        i = context.find(text, i + 1)

    def bounded(at: int) -> bool:
        end = at + len(text)
        return ((at == 0 or not (context[at - 1].isalnum() and text[0].isalnum()))
                and (end == len(context) or not (context[end].isalnum() and text[-1].isalnum())))

    return [at for at in found if bounded(at)] or found


def disambiguate(context: str, question: str, text: str, start: int, window: int = 10) -> int:
    """The occurrence of `text` that the question most likely means; `start` when in doubt.

    Each occurrence is scored by the distinct question content words among the `window` words on either
    side of it (the answer's own words do not count), then by how close they are; ties keep the earliest.
    """
    found = occurrences(context, text)
    if len(found) < 2:
        return found[0] if found else start
    wanted = content_words(question) - content_words(text)
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(context)]

    def score(at: int) -> tuple[int, int, int]:
        before = [w for _, end, w in words if end <= at][-window:][::-1]
        after = [w for start, _, w in words if start >= at + len(text)][:window]
        near: dict[str, int] = {}  # question word -> its distance in words from the occurrence
        for side in (before, after):
            for d, w in enumerate(side):
                if w in wanted:
                    near[w] = min(near.get(w, d), d)
        return len(near), -sum(near.values()), -at

    return max(found, key=score)


def _answer_start(context: str, question: str, answer: dict, use_disambiguation: bool, window: int) -> int | None:
    text, start = answer["text"], int(answer.get("answer_start", -1))
    if context[start:start + len(text)] != text:  # a stale offset: fall back to the first occurrence
        found = occurrences(context, text)
        if not found:
            return None
        start = found[0]
    return disambiguate(context, question, text, start, window) if use_disambiguation else start


def squad_examples(articles: list[dict], kind: str, use_disambiguation: bool = True,
                   window: int = 10, stats: dict | None = None) -> list[Example]:
    """One example per question: the first gold answer, placed; unanswerable v2 questions get no answer."""
    stats = stats if stats is not None else {}
    out = []
    for article in articles:
        for para in article["paragraphs"]:
            context = para["context"]
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa.get("answers"):
                    out.append(Example(qa["id"], qa["question"], context, None, "", kind + "-impossible"))
                    continue
                answer = qa["answers"][0]
                start = _answer_start(context, qa["question"], answer, use_disambiguation, window)
                if start is None:
                    stats["unplaced"] = stats.get("unplaced", 0) + 1
                    continue
                stats["repeated"] = stats.get("repeated", 0) + (len(occurrences(context, answer["text"])) > 1)
                stats["moved"] = stats.get("moved", 0) + (start != answer.get("answer_start"))
                out.append(Example(qa["id"], qa["question"], context, start, answer["text"], kind))
    return out


def holds_answer(context: str, answers: list[str]) -> bool:
    """Whether any answer occurs in the context, case-insensitively or after SQuAD normalisation."""
    low, norm = context.lower(), f" {normalize_answer(context)} "
    for a in answers:
        n = normalize_answer(a)
        if a.strip().lower() in low or (n and f" {n} " in norm):
            return True
    return False


def drawn_questions(para: dict, fraction: float, rng: random.Random):
    """The answerable questions of a paragraph, each drawn with probability `fraction`, with their answers."""
    for qa in para["qas"]:
        answers = [a["text"] for a in qa.get("answers", [])]
        if answers and rng.random() < fraction:
            yield qa, answers


def negative_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions paired with another paragraph of their article that holds none of their answers."""
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        contexts = [p["context"] for p in article["paragraphs"]]
        if len(contexts) < 2:
            continue
        for p, para in enumerate(article["paragraphs"]):
            for qa, answers in drawn_questions(para, fraction, rng):
                others = [i for i in range(len(contexts)) if i != p]
                rng.shuffle(others)
                pick = next((i for i in others[:10] if not holds_answer(contexts[i], answers)), None)
                if pick is not None:
                    out.append(Example(f"{qa['id']}-neg", qa["question"], contexts[pick], None, "", "negative"))
    return out


def cut_answer_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions paired with their own paragraph less the sentences that hold an answer.

    These no-answer examples keep the topic and the distractors of the paragraph, so the model learns to
    abstain when the evidence is missing, not merely when the paragraph is about something else.
    """
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        for para in article["paragraphs"]:
            context = para["context"]
            sentences = [context[a:b] for a, b in sentence_spans(context)]
            for qa, answers in drawn_questions(para, fraction, rng):
                kept = [s for s in sentences if not holds_answer(s, answers)]
                rest = " ".join(kept)
                if 2 <= len(kept) < len(sentences) and not holds_answer(rest, answers):
                    out.append(Example(f"{qa['id']}-cut", qa["question"], rest, None, "", "cut"))
    return out


_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+|and\s+)?[A-Z][\w'’.-]*)*|\b\d[\d,.]*\d\b|\b\d\b")
_ORDINAL = re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\b")
_NOT_NAMES = frozenset("""what which who whom whose when where why how in on at the a an of for from by to
is are was were did does do during after before since as if according""".split())


def _names(text: str, mid_sentence: bool = False) -> list[str]:
    """Capitalised names, numbers and ordinal words in `text`: what a swapped question can change.

    With `mid_sentence`, a capitalised word that opens a sentence is not taken for a name."""
    found = [m for m in _NAME.finditer(text)
             if not (mid_sentence and m.group()[0].isupper() and (m.start() == 0 or text[m.start() - 2] in ".!?"))]
    found = [m.group() for m in found] + [m.group() for m in _ORDINAL.finditer(text)]
    return [n.rstrip(".,") for n in found if n.split()[0].lower() not in _NOT_NAMES]


def _kind(name: str) -> str:
    return "number" if name[0].isdigit() else "ordinal" if _ORDINAL.fullmatch(name) else "name"


def swap_name_examples(articles: list[dict], fraction: float, rng: random.Random) -> list[Example]:
    """Questions with a name, number or ordinal their paragraph holds swapped for one of the same kind
    from elsewhere in the article that the paragraph lacks: the question now asks about something the
    paragraph never mentions, like SQuAD 2.0's entity-swap questions. Labelled no answer."""
    out = []
    if fraction <= 0:
        return out
    for article in articles:
        found: dict[str, set[str]] = {}
        for para in article["paragraphs"]:
            for name in _names(para["context"], mid_sentence=True):
                found.setdefault(_kind(name), set()).add(name)
        pools = {k: sorted(v) for k, v in found.items()}
        for para in article["paragraphs"]:
            context, low = para["context"], para["context"].lower()
            for qa, answers in drawn_questions(para, fraction, rng):
                names = [n for n in _names(qa["question"])
                         if n in context and not any(n.lower() in a.lower() or a.lower() in n.lower() for a in answers)]
                if not names:
                    continue
                old = rng.choice(names)
                pool = pools.get(_kind(old), [])
                tries = rng.sample(pool, min(10, len(pool)))
                new = next((n for n in tries if n.lower() not in low), None)
                if new:
                    question = qa["question"].replace(old, new, 1)
                    out.append(Example(f"{qa['id']}-swap", question, context, None, "", "swap"))
    return out


def split_v2_train_half(articles: list[dict], calib_articles: int, seed: int) -> tuple[list[dict], list[dict]]:
    """The v2 articles outside the report half, split into (train, calibration) by article."""
    half = sorted((a for a in articles if not report_half(a["title"])), key=lambda a: a["title"])
    order = list(range(len(half)))
    random.Random(seed).shuffle(order)
    held = set(order[:calib_articles])
    return ([a for i, a in enumerate(half) if i not in held], [a for i, a in enumerate(half) if i in held])


def questions_of(articles: list[dict]) -> list[qs.Question]:
    """`qa.eval.metrics.Question`s, for reading each question against its own paragraph."""
    return [qs.squad_question(qa, para["context"], None)
            for article in articles for para in article["paragraphs"] for qa in para["qas"]]
