"""``summary.md`` (the paper tables under every selection rule, and the missing folds) and
``summary.png`` (grouped bars per target domain with std error bars, method next to method+FixCLR)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fixclr.io import atomic_write_bytes, atomic_write_text  # noqa: E402
from fixclr.results.aggregate import AVERAGE_TARGET, SELECTIONS  # noqa: E402
from fixclr.results.selection import RULE_NAMES  # noqa: E402
from fixclr.results.tables import (  # noqa: E402
    METRIC_NAMES, TABLE_KEYS, format_table, label_rows, paper_tables, selected_trials, setting_title, variant_order)


def summary_markdown(summary: pd.DataFrame, missing: list[str], n_folds: int,
                     selected: pd.DataFrame | None = None, underfit: list[str] = ()) -> str:
    """The report text: one table per setting, selection rule and metric, the trials selected in a
    search (``selected``: selected.parquet), then the missing folds and the underfitting warning
    (``underfit``: lines of fixclr.results.underfit.warning_lines)."""
    lines = ["# Sweep summary", "",
             f"{n_folds} finished folds. Cells: mean ± std over seeds of the target-domain accuracy (%); "
             "Avg: mean over target domains, std over seeds. Selection (docs/selection.md): "
             + "; ".join(f"{rule} = {name}" for rule, name in RULE_NAMES.items()) + ".", "",
             "![summary](summary.png)", ""]
    for metric in METRIC_NAMES:
        for selection in SELECTIONS:
            for title, table in paper_tables(summary, selection, metric).items():
                lines += [f"## {title}", "", format_table(table, "markdown")]
    chosen = selected_trials(selected) if selected is not None else pd.DataFrame()
    if not chosen.empty:
        lines += ["## Selected trials (val, top1)", "", format_table(chosen, "markdown")]
    if missing:
        lines += [f"## Missing folds ({len(missing)})", "", *[f"- {fold}" for fold in missing], ""]
    if underfit:
        lines += ["## Underfitting", "", underfit[0], "", *[f"- {line.strip()}" for line in underfit[1:]], ""]
    return "\n".join(lines)


def summary_figure(summary: pd.DataFrame, selection: str = "last") -> bytes:
    """PNG bytes: per setting, bars per target domain and Avg, one bar per variant, std error bars."""
    summary = summary[summary["metric"] == "top1"]
    settings = list(label_rows(summary).groupby(TABLE_KEYS, sort=True))
    fig, axes = plt.subplots(len(settings) or 1, 1, figsize=(10, 3.6 * max(len(settings), 1)), squeeze=False)
    for ax, (key, setting) in zip(axes[:, 0], settings):
        targets = sorted(t for t in setting["target_domain"].unique() if t != AVERAGE_TARGET) + [AVERAGE_TARGET]
        variants = variant_order(setting["row"])
        width = 0.8 / len(variants)
        for index, variant in enumerate(variants):
            rows = setting[setting["row"] == variant].set_index("target_domain").reindex(targets)
            positions = [t + (index - (len(variants) - 1) / 2) * width for t in range(len(targets))]
            ax.bar(positions, rows[f"acc_{selection}_mean"], width, yerr=rows[f"acc_{selection}_std"].fillna(0),
                   capsize=3, label=variant)
        ax.set_xticks(range(len(targets)), [t if t != AVERAGE_TARGET else "Avg" for t in targets])
        ax.set_ylabel(f"target accuracy (%), {selection}")
        ax.set_title(setting_title(*key, short=True))
        ax.set_ylim(0, 100)
        ax.legend(fontsize="small", ncols=min(len(variants), 4))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def write_report(summary: pd.DataFrame, out_dir: str | Path, missing: list[str], n_folds: int,
                 selected: pd.DataFrame | None = None, underfit: list[str] = ()) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.png`` into ``out_dir`` atomically."""
    out_dir = Path(out_dir)
    md, png = out_dir / "summary.md", out_dir / "summary.png"
    atomic_write_bytes(png, summary_figure(summary))
    atomic_write_text(md, summary_markdown(summary, missing, n_folds, selected, underfit))
    return md, png
