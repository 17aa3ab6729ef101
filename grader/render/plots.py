"""The two pictures of the grader: a student's loss curves, and the class's histogram of totals.

Headless and reproducible: the Agg backend is chosen before anything could import pyplot, the
figures are built with the object API (no pyplot global state, safe in worker processes), and
the PNG is written without the "Software" text chunk (it holds matplotlib's version), so the
same data gives the same bytes on every run and a re-run batch does not rewrite unchanged files.
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before any pyplot import anywhere: no display, no GUI toolkit

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from grader.render import neutralise as N  # noqa: E402 - student names and summaries: no $maths$
from grader.results import Report  # noqa: E402
from lab2check import questions  # noqa: E402

DPI = 80
_PNG = {"Software": None}


def _save(fig: Figure, path):
    """``fig`` as PNG into ``path``: a file name, or a binary file (``io.BytesIO``) whose bytes
    the caller writes atomically (``grader.fsutil.atomic_write``)."""
    path = path if hasattr(path, "write") else Path(path)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI, metadata=_PNG)
    return path


def _positive(curve) -> tuple[list[int], list[float]]:
    """Epochs and values that a log axis can show (a NaN or a non-positive loss ends nothing,
    it is just not drawn)."""
    xs, ys = [], []
    for k, v in enumerate(curve or []):
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v) and v > 0:
            xs.append(k)
            ys.append(v)
    return xs, ys


def _first_bad(curve) -> int | None:
    """The first epoch whose loss is NaN or infinite (a diverged run), or None."""
    for k, v in enumerate(curve or []):
        try:
            if not math.isfinite(float(v)):
                return k
        except (TypeError, ValueError):
            return k
    return None


def _from_report(report: Report) -> tuple[dict[str, dict[str, list[float]]], dict[str, str]]:
    """Curves and, per model, why the student's curve is missing (the question's summary)."""
    reasons: dict[str, str] = {}
    by_id = {q.id: q for q in getattr(report, "questions", [])}
    # The question whose training run produces each model's curve: its summary explains a missing one.
    for model, qid in questions.reported_models().items():
        q = by_id.get(qid)
        if q is not None:
            reasons[model] = N.plot_text(q.summary or q.status)
    return dict(report.curves or {}), reasons


def _shorten(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def loss_curves_png(report_or_curves, path, *, title: str | None = None) -> Path:
    """One PNG, a panel per model (three): the student's training loss beside the reference's, log-scale.

    ``report_or_curves`` is a ``Report`` (its ``curves``; a missing curve is explained by its
    question's summary) or a dict ``{model: {"student": [...], "reference": [...]}}``.
    """
    if isinstance(report_or_curves, dict):
        curves, reasons = report_or_curves, dict[str, str]()
        title = title or "Training loss"
    else:
        curves, reasons = _from_report(report_or_curves)
        title = title or f"Training loss: {N.plot_text(report_or_curves.student)}"
    panels = questions.reported_models()  # one panel per model of REPORT.md's loss_500 block
    fig = Figure(figsize=(11 / 3 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (model, qid) in zip(axes, panels.items()):
        pair = curves.get(model) or {}
        training = questions.get(qid).training
        assert training is not None, f"{qid} is not a training question"
        ax.set_title(training.title or model, fontsize=10)
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        drawn = False
        for who, style in (("reference", {"color": "0.55", "linestyle": "--", "linewidth": 1.5}),
                           ("student", {"color": "tab:blue", "linewidth": 1.5})):
            xs, ys = _positive(pair.get(who))
            if xs:
                ax.plot(xs, ys, label=who, **style)
                drawn = True
        note = None
        if not _positive(pair.get("student"))[0]:
            note = f"no curve\n({_shorten(reasons.get(model) or 'not available')})"
        elif _first_bad(pair.get("student")) is not None:
            note = f"student loss not finite\nfrom epoch {_first_bad(pair.get('student'))}"
        if note:
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=9,
                    color="tab:red", bbox={"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9})
        if drawn:
            ax.set_yscale("log")
            # Losses span one or two decades: label 1-2-5 steps as plain numbers (0.02, 0.05, 0.1).
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a narrow panel
            ax.legend(fontsize=8, loc="upper right")
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0].set_ylabel("loss (log scale)", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def histogram_png(totals: list[float], path, total_max: float = 20, *, title: str = "Totals") -> Path:
    """A histogram of the class's totals, one bar per point from 0 to ``total_max``."""
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    values = [float(t) for t in totals if t is not None and math.isfinite(float(t))]
    n_bins = max(int(math.ceil(total_max)), 1)
    if values:
        ax.hist(values, bins=n_bins, range=(0, n_bins), color="tab:blue", edgecolor="white")
        mean = sum(values) / len(values)
        ax.axvline(mean, color="tab:red", linestyle="--", linewidth=1.2, label=f"mean {mean:.2f}")
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no totals", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlim(0, n_bins)
    ax.set_xlabel(f"total / {total_max:g}", fontsize=9)
    ax.set_ylabel("students", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title} (n = {len(values)})", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
