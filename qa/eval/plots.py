"""The evaluation report's figures, drawn with matplotlib (Agg, no display) and returned as PNG bytes."""

from __future__ import annotations

import io

PRECISION_TARGET = 0.9  # drawn on the risk-coverage curve: where precision falls below 90%


def _figure(width: float = 6.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: only files
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.grid(True, alpha=0.3)
    return plt, fig, ax


def _label(ax, xlabel: str, ylabel: str, title: str, legend: str | None = None, top: float = 1.02) -> None:
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(loc=legend, fontsize=8)


def _png(plt, fig) -> bytes:
    out = io.BytesIO()
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def risk_coverage(curve: list[tuple[float, float, float]], shipped: tuple[float, float] | None,
                  threshold: float) -> bytes:
    """Precision against coverage as the threshold falls; `curve` holds (threshold, coverage, precision)."""
    plt, fig, ax = _figure()
    if curve:
        ax.plot([c for _, c, _ in curve], [p for _, _, p in curve], drawstyle="steps-post", color="#1f77b4",
                label="answering every question whose best candidate scores ≥ t")
    if shipped is not None:
        ax.plot([shipped[0]], [shipped[1]], "o", color="#d62728", markersize=9,
                label=f"shipped threshold {threshold:.4g}: coverage {shipped[0]:.0%}, precision {shipped[1]:.0%}")
    ax.axhline(PRECISION_TARGET, color="#999", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    _label(ax, "coverage (share of questions answered)", "precision (share of answers exactly right)",
           "Risk-coverage: precision as the threshold moves", "lower left")
    return _png(plt, fig)


def reliability(bins: list[tuple[float, float, float, int]]) -> bytes:
    """Reliability diagram: per score bin (low, high, share right, count), the share right against the score."""
    plt, fig, ax = _figure()
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999", label="perfectly calibrated")
    shown = [(lo, hi, right, n) for lo, hi, right, n in bins if n]
    ax.bar([lo for lo, *_ in shown], [right for _, _, right, _ in shown], width=[hi - lo for lo, hi, *_ in shown],
           align="edge", edgecolor="#1f77b4", color="#aec7e8", label="share of candidates exactly right")
    for lo, hi, right, n in shown:
        ax.annotate(str(n), ((lo + hi) / 2, right), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    _label(ax, "score of the best candidate (numbers: questions in the bin)", "share exactly right",
           "Reliability of the answer score", "upper left", 1.05)
    return _png(plt, fig)


def recall_at_k(recalls: list[tuple[int, float]], read: int) -> bytes:
    """Recall@k of the gold document for k = 1, 2, ...; `read` marks how many passages the reader gets."""
    plt, fig, ax = _figure()
    ax.plot([k for k, _ in recalls], [r for _, r in recalls], marker="o", color="#2ca02c")
    ax.axvline(read, color="#999", linestyle=":", label=f"top_k = {read} (passages the reader may get)")
    ax.set_xticks([k for k, _ in recalls])
    _label(ax, "k (passages retrieved)", "recall@k (gold document among them)", "Retrieval: recall@k", "lower right")
    return _png(plt, fig)


def per_document(rows: list[tuple[str, float, int]]) -> bytes:
    """Source accuracy per gold document: (document, share cited right, questions), worst first."""
    plt, fig, ax = _figure(6.0, max(2.5, 0.28 * len(rows) + 1.2))
    names = [f"{name[:40]} ({n})" for name, _, n in rows]
    ax.barh(names, [acc for _, acc, _ in rows], color="#9467bd")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("source accuracy (the answer cites the gold document)")
    ax.set_title("Per document (questions in brackets)")
    ax.tick_params(axis="y", labelsize=7)
    return _png(plt, fig)
