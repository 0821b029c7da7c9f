"""Paper-style tables from ``summary.parquet``: rows = variants, columns = target domains + Avg,
cells = mean ± std over seeds; as markdown, csv or LaTeX. Also the folds a sweep still misses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from fixclr.results.aggregate import AVERAGE_TARGET, SELECTIONS, fold_id
from fixclr.sweep import Fold

FORMATS = ("markdown", "csv", "latex")
# One table per experiment setting; rows within it are the variants.
TABLE_KEYS = ["dataset", "backbone", "pretrained", "labels_per_class"]
METRIC_NAMES = {"top1": "accuracy", "balanced": "balanced accuracy"}  # summary.parquet's metric column


def variant_order(variants) -> list[str]:
    """Each method next to its regularized and tagged variants: erm, fixmatch, fixmatch+fixclr, ..."""
    return sorted(set(variants), key=lambda name: (name.split("+")[0].split("-")[0], name))


def setting_title(dataset: str, backbone: str, pretrained: bool, labels: int, short: bool = False) -> str:
    """The title of one experiment setting (a ``TABLE_KEYS`` value): ``digits, cnn, 10 labels per
    class``, with ``(ImageNet-pretrained)`` after a pretrained backbone; ``short`` for a figure's panel."""
    if short:
        return f"{dataset}, {backbone}{' pretrained' if pretrained else ''}, {labels} labels/class"
    return f"{dataset}, {backbone}{' (ImageNet-pretrained)' if pretrained else ''}, {labels} labels per class"


def label_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with a ``row`` column: the variant, plus the regularizer settings that differ
    where one variant ran with several (e.g. FixCLR defaults changed between folds)."""
    labels = {}
    for variant, group in summary.groupby("variant"):
        settings = {text: json.loads(text) for text in group["regularizer_settings"].unique()}
        keys = sorted({key for d in settings.values() for key in d
                       if len({json.dumps(other.get(key)) for other in settings.values()}) > 1})
        for text, values in settings.items():
            suffix = ", ".join(f"{key}={values.get(key)}" for key in keys)
            labels[variant, text] = f"{variant} ({suffix})" if suffix else variant
    rows = [labels[v, t] for v, t in zip(summary["variant"], summary["regularizer_settings"])]
    return summary.assign(row=rows)


def _cell(mean: float, std: float, count: int, full_count: int) -> str:
    text = f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"
    return text if count >= full_count else f"{text} (n={count})"


def paper_tables(summary: pd.DataFrame, selection: str = "last", metric: str = "top1", **filters) -> dict[str, pd.DataFrame]:
    """``{title: table}`` for every experiment setting left after ``filters`` (column=value), on the
    rows of ``metric`` (top1 | balanced).

    A cell averaged over fewer seeds than the table's best-covered cell says ``(n=<seeds>)``.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; known: {', '.join(SELECTIONS)}")
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}")
    summary = summary[summary["metric"] == metric].dropna(subset=[f"acc_{selection}_mean"])
    for column, value in filters.items():
        if value is not None:
            summary = summary[summary[column] == value]
    tables = {}
    for key, setting in label_rows(summary).groupby(TABLE_KEYS, sort=True):
        full_count = setting["count"].max()
        cells = setting.assign(cell=[
            _cell(row[f"acc_{selection}_mean"], row[f"acc_{selection}_std"], row["count"], full_count)
            for _, row in setting.iterrows()
        ])
        table = cells.pivot(index="row", columns="target_domain", values="cell")
        targets = sorted(c for c in table.columns if c != AVERAGE_TARGET)
        table = table.reindex(index=variant_order(table.index), columns=targets + [AVERAGE_TARGET])
        table = table.rename(columns={AVERAGE_TARGET: "Avg"}).fillna("–")
        table.index.name = "method"
        tables[f"{setting_title(*key)}, target {METRIC_NAMES[metric]} (%), selection: {selection}"] = table
    return tables


def format_table(table: pd.DataFrame, fmt: str) -> str:
    """The table as ``markdown``, ``csv`` or ``latex`` text."""
    header = [table.index.name, *table.columns]
    rows = [[name, *values] for name, values in zip(table.index, table.values.tolist())]
    if fmt == "csv":
        return table.to_csv()
    if fmt == "markdown":
        lines = [header, ["---"] + ["---:"] * len(table.columns), *rows]
        return "\n".join("| " + " | ".join(map(str, line)) + " |" for line in lines) + "\n"
    if fmt == "latex":
        def tex(text) -> str:
            return str(text).replace("±", r"$\pm$").replace("_", r"\_").replace("–", "--")

        body = [" & ".join(map(tex, line)) + r" \\" for line in rows]
        return "\n".join([
            r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule",
            " & ".join(map(tex, header)) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
        ]) + "\n"
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def hparams_text(text: str) -> str:
    """``lr=0.03, threshold=0.95`` from the JSON of a fold's searched values."""
    return ", ".join(f"{key}={value}" for key, value in json.loads(text).items())


def selected_trials(selected: pd.DataFrame, rule: str = "val", metric: str = "top1") -> pd.DataFrame:
    """Which trial (and step) ``rule`` chose per (method, target, seed), its value and its hyperparameters;
    one table over every setting, for searched sweeps (experiments with more than one trial)."""
    rows = selected[(selected["rule"] == rule) & (selected["metric"] == metric) & (selected["trials_done"] > 1)]
    rows = rows.sort_values(["dataset", "backbone", "labels_per_class", "variant", "target_domain", "seed"])
    table = pd.DataFrame({
        "method": rows["variant"], "target": rows["target_domain"], "seed": rows["seed"],
        "trial": rows["trial"].map(lambda t: f"t{t}"), "of": rows["trials_done"], "step": rows["step"],
        "target %": rows["value"].map(lambda v: f"{v:.1f}"),
        "hyperparameters": rows["hparams"].map(hparams_text),
    })
    return table.set_index("method")


def selection_summary(selected: pd.DataFrame, rule: str = "val", metric: str = "top1") -> pd.DataFrame:
    """Per searched variant and selected trial: how many (target, seed) experiments chose it, and its values."""
    rows = selected[(selected["rule"] == rule) & (selected["metric"] == metric) & (selected["trials_done"] > 1)]
    counts = rows.groupby(["variant", "trial", "hparams"]).size().reset_index(name="chosen")
    totals = rows.groupby("variant").size()
    table = pd.DataFrame({
        "method": counts["variant"], "trial": counts["trial"].map(lambda t: f"t{t}"),
        "chosen": [f"{n} of {totals[v]}" for v, n in zip(counts["variant"], counts["chosen"])],
        "hyperparameters": counts["hparams"].map(hparams_text),
    })
    order = {name: i for i, name in enumerate(variant_order(table["method"]))}
    return table.sort_values("method", key=lambda s: s.map(order), kind="stable").set_index("method")


def missing_folds(folds_table: pd.DataFrame, expected: list[Fold], runs_dir: Path) -> list[str]:
    """Fold ids of the sweep's folds that are not (yet) rows of ``folds.parquet``."""
    present = set(folds_table["fold_id"])
    return [fid for fid in (fold_id(fold.run_dir, runs_dir) for fold in expected) if fid not in present]
