"""`qa eval --report`: one self-contained HTML page of an evaluation, for people to look at.

The metrics table; the risk-coverage curve with the shipped threshold marked; a reliability diagram of the
answer score; recall@k for k = 1 to 20; source accuracy per document; and the questions answered wrong or
declined, each with its passage and both the predicted and the gold spans highlighted. Figures are PNGs
inline (base64), and the page fetches nothing.

Every figure is computed from the per-question predictions: a question's best candidate is its answer, or
for an abstention the first alternative, and is right when it matches a gold answer exactly.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from pathlib import Path

from qa.eval import plots
from qa.atomic import atomic_write_bytes
from qa.eval.metrics import Prediction, exact_match, f1_score, gold_rank, risk_coverage, scored
from qa.types import Answer

BINS = 10  # of the reliability diagram
MAX_LISTED = 200  # questions listed in each of "answered wrong" and "declined"
ROOM = 250  # characters of passage shown either side of a highlighted span
MAX_DOCUMENTS = 40  # rows of the per-document chart


def best_candidate(p: Prediction) -> Answer | None:
    """The span the system would give at the lowest threshold: the answer, or an abstention's first candidate."""
    a = p.answer
    if a is None:
        return None
    if a.text:
        return a
    return a.alternatives[0] if a.alternatives else None


def coverage_curve(predictions: list[Prediction]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, precision) at each threshold that answers more questions: `risk_coverage`'s
    curve with questions of the same score coming in together, as a threshold takes them."""
    curve = risk_coverage(predictions)
    return [point for i, point in enumerate(curve) if i + 1 == len(curve) or curve[i + 1][0] < point[0]]


def reliability_bins(rows: list[tuple[float, float]], bins: int = BINS) -> list[tuple[float, float, float, int]]:
    """(low, high, share right, count) of each of `bins` equal score bins."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [ok for s, ok in rows if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        out.append((lo, hi, sum(inside) / len(inside) if inside else 0.0, len(inside)))
    return out


def shipped_point(predictions: list[Prediction]) -> tuple[float, float] | None:
    """(coverage, precision) of the answers as given."""
    answered = [p for p in predictions if p.text]
    if not answered:
        return None
    right = sum(exact_match(p.text, p.question.answers) for p in answered)
    return len(answered) / len(predictions), right / len(answered)


def recalls(deep: list[Prediction], k_max: int = 20) -> list[tuple[int, float]]:
    """recall@k of the gold document for k = 1..k_max, over questions that name one."""
    ranks = [gold_rank(p) for p in deep if p.question.source is not None]
    if not ranks:
        return []
    return [(k, sum(1 for r in ranks if r is not None and r <= k) / len(ranks)) for k in range(1, k_max + 1)]


def per_document(predictions: list[Prediction]) -> list[tuple[str, float, int, float]]:
    """(gold document, source accuracy, questions, exact match) of each document, worst first."""
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if p.question.answerable and p.question.source is not None:
            groups[p.question.source].append(p)
    rows = [(doc, sum(p.source == doc for p in ps) / len(ps), len(ps),
             sum(exact_match(p.text, p.question.answers) for p in ps) / len(ps)) for doc, ps in groups.items()]
    return sorted(rows, key=lambda r: (r[1], -r[2], r[0]))


# ---- HTML ----------------------------------------------------------------------------------------

def _marked(text: str, spans: list[tuple[int, int, str]], room: int = ROOM) -> str:
    """`text` around the spans, each span marked with its class ("pred", "gold"; both where they overlap)."""
    spans = [(s, e, c) for s, e, c in spans if 0 <= s < e <= len(text)]
    if not spans:
        return html.escape(text[: 2 * room]) + ("…" if len(text) > 2 * room else "")
    left, right = max(0, min(s for s, _, _ in spans) - room), min(len(text), max(e for _, e, _ in spans) + room)
    cuts = sorted({left, right, *(x for s, e, _ in spans for x in (s, e) if left <= x <= right)})
    out = ["… " if left else ""]
    for a, b in zip(cuts, cuts[1:]):
        classes = sorted({c for s, e, c in spans if s <= a and b <= e})
        piece = html.escape(text[a:b])
        out.append(f"<mark class='{' '.join(classes)}'>{piece}</mark>" if classes else piece)
    out.append(" …" if right < len(text) else "")
    return "".join(out)


def _gold_spans(text: str, golds: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """Where the gold answers stand in `text`: the first place each is found, case aside."""
    lower = text.lower()
    return [(at, at + len(g), "gold") for g in golds if g and (at := lower.find(g.lower())) >= 0]


def _passages(p: Prediction, texts: dict[str, str]) -> str:
    """The predicted candidate's passage, both spans marked; and the gold document's, when it is another passage."""
    q, c, shown = p.question, best_candidate(p), []
    gold_seen = False
    if c is not None and c.source is not None and c.start is not None:
        offset = c.context_start or 0
        spans = [(c.start - offset, c.end - offset, "pred")]
        if c.source == q.source:
            spans += _gold_spans(c.context, q.answers)
            gold_seen = len(spans) > 1
        shown.append(f"<p class='where'>Predicted, in {html.escape(c.source)}:</p>"
                     f"<div class='passage'>{_marked(c.context, spans)}</div>")
    gold_text = texts.get(q.source) if q.source else q.context
    if q.answers and gold_text and not gold_seen:
        shown.append(f"<p class='where'>Gold, in {html.escape(q.source or 'the gold paragraph')}:</p>"
                     f"<div class='passage'>{_marked(gold_text, _gold_spans(gold_text, q.answers))}</div>")
    return "".join(shown)


def _question_items(predictions: list[Prediction], texts: dict[str, str]) -> str:
    items = []
    for p in predictions[:MAX_LISTED]:
        q, c = p.question, best_candidate(p)
        said = (f"answered “{html.escape(p.text)}” in {html.escape(str(p.source))}" if p.text else
                "declined" + (f"; best candidate “{html.escape(c.text)}” ({c.score:.2f})" if c else ""))
        gold = " | ".join(html.escape(a) for a in q.answers) or "(no answer: the documents do not hold one)"
        score = f"{p.score:.3f}" if p.score is not None else "–"
        items.append(f"<li class='question'><p><strong>{html.escape(q.question)}</strong> "
                     f"<span class='meta'>({html.escape(q.id)}; score {score}; "
                     f"F1 {f1_score(p.text, q.answers):.2f})</span></p>"
                     f"<p>Gold: <span class='gold-text'>{gold}</span>"
                     f"{' in ' + html.escape(q.source) if q.source else ''} · System: {said}</p>"
                     f"{_passages(p, texts)}</li>")
    more = len(predictions) - MAX_LISTED
    return f"<ol>{''.join(items)}</ol>" + (f"<p>… and {more} more.</p>" if more > 0 else "")


def _img(png: bytes, alt: str) -> str:
    return f"<img class='plot' alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; max-width: 64rem;
       margin: 1rem auto; padding: 0 1rem; line-height: 1.45; color: #222; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(28rem, 1fr)); gap: 1rem; }
img.plot { max-width: 100%; border: 1px solid #eee; }
.passage { border-left: 3px solid #ccc; padding: .2rem .8rem; margin: .2rem 0 .6rem; font-size: .92em; }
mark.pred { background: #ffd6a5; } mark.gold { background: #b9f6ca; } mark.gold.pred { background: #a0c4ff; }
.meta, .where { color: #666; font-size: .9em; margin: .2rem 0; }
.legend mark { padding: 0 .3em; }
"""


def render_report(metrics: dict, predictions: list[Prediction], deep: list[Prediction] | None,
                  texts: dict[str, str], threshold: float, title: str = "", top_k: int = 5) -> str:
    """The report as one HTML page."""
    rows = scored(predictions)
    shipped = shipped_point(predictions)
    figures = [_img(plots.risk_coverage(coverage_curve(predictions), shipped, threshold), "risk-coverage curve"),
               _img(plots.reliability(reliability_bins(rows)), "reliability diagram")]
    if deep and (at_k := recalls(deep)):
        figures.append(_img(plots.recall_at_k(at_k, top_k), "recall at k"))
    documents = per_document(predictions)
    if documents:
        figures.append(_img(plots.per_document([(d, acc, k) for d, acc, k, _ in documents[:MAX_DOCUMENTS]]),
                            "source accuracy per document"))
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td class='num'>{html.escape(str(v))}</td></tr>"
                    for k, v in metrics.items() if v is not None)
    doc_rows = "".join(f"<tr><td>{html.escape(d)}</td><td class='num'>{k}</td><td class='num'>{acc:.0%}</td>"
                       f"<td class='num'>{em:.0%}</td></tr>" for d, acc, k, em in documents)
    wrong = [p for p in predictions if p.text and not exact_match(p.text, p.question.answers)]
    declined = [p for p in predictions if not p.text and p.question.answerable]
    name = html.escape(title)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>qa evaluation · {name}</title><style>{STYLE}</style></head><body>
<h1>Evaluation of {name}</h1>
<p class="meta">{len(predictions)} questions; answers given at threshold {threshold:.4g}. A candidate is right when it matches a gold
answer exactly (SQuAD normalisation).</p>
<h2>Metrics</h2><table class="metrics">{table}</table>
<h2>Figures</h2><div class="plots">{''.join(figures)}</div>
<h2>Per document</h2><table class="documents"><tr><th>gold document</th><th>questions</th><th>source accuracy</th>
<th>exact match</th></tr>{doc_rows}</table>
<p class="legend">Highlights: <mark class="pred">predicted</mark> <mark class="gold">gold</mark>
<mark class="gold pred">both</mark></p>
<h2 id="wrong">Answered wrong ({len(wrong)})</h2>{_question_items(wrong, texts)}
<h2 id="declined">Declined, though answerable ({len(declined)})</h2>{_question_items(declined, texts)}
</body></html>
"""


def write_report(path: Path, metrics: dict, predictions: list[Prediction], deep: list[Prediction] | None,
                 texts: dict[str, str], threshold: float, title: str = "", top_k: int = 5) -> None:
    """Write the report to `path`, atomically."""
    page = render_report(metrics, predictions, deep, texts, threshold, title, top_k)
    atomic_write_bytes(Path(path), page.encode("utf-8"))
