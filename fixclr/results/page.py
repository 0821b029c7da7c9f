"""``docs/results.md``: the demo's results page, built only from the Parquet tables of three sweeps.

The main grid (``config/grid.yaml``: every method with and without FixCLR), the ablation
(``config/ablation.yaml``) and the many-domains sweep (``config/many_domains.yaml``) each wrote
``<results_dir>/tables/{folds,summary}.parquet``; the page holds their tables, FixCLR's effect per
method as a paired difference over seeds with its standard error and a plain verdict, the grid's
report picture (copied next to the page), the command that reproduced it, the commit and the time.
With a hyperparameter-search sweep (``config/search.yaml``) the page also compares every method
searched with the same budget, selected by training-domain validation from ``selected.parquet``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fixclr.config import DEFAULTS
from fixclr.io import atomic_write_bytes, atomic_write_text
from fixclr.results.aggregate import ResultError
from fixclr.results.selection import wide
from fixclr.results.tables import TABLE_KEYS, format_table, paper_tables, selection_summary, variant_order
from fixclr.results.underfit import tables_underfit_signs, warning_lines

PAGE_SELECTIONS = {"val": "source-validation selection (acc_val)", "last": "last model (acc_last)"}
SWEEP_CONFIGS = {"grid": "config/grid.yaml", "ablation": "config/ablation.yaml", "many": "config/many_domains.yaml",
                 "search": "config/search.yaml"}
REFERENCE_VARIANT = "fixmatch"  # the ablation's reference: plain FixMatch
# The ablation's reference rows (plain FixMatch and FixCLR's defaults) are the grid's folds of the
# same settings, unless the ablation sweep ran them itself: config/ablation.yaml does not repeat them.
ABLATION_REFERENCES = (REFERENCE_VARIANT, f"{REFERENCE_VARIANT}+fixclr")
ABLATED = ("attract", "negatives", "embedding", "views", "lambda", "temperature")  # config/ablation.yaml's axes
PICTURE_NAME = "results.png"
HELPS = "FixCLR helps beyond its standard error"


@dataclass(frozen=True)
class SweepTables:
    """The Parquet tables one sweep wrote under ``results_dir/tables``."""

    results_dir: Path
    folds: pd.DataFrame
    summary: pd.DataFrame
    selected: pd.DataFrame | None = None  # selected.parquet, where the aggregation wrote it


@dataclass(frozen=True)
class PairedDifference:
    """Mean over seeds of d_s = avg_other_s - avg_base_s and its standard error std(d)/sqrt(n)."""

    mean: float
    se: float
    seeds: int

    def text(self) -> str:
        """``+1.2 ± 0.4``: the mean difference in points and its standard error."""
        return f"{self.mean:+.1f}" if math.isnan(self.se) else f"{self.mean:+.1f} ± {self.se:.1f}"

    def verdict(self) -> str:
        """Whether FixCLR's difference exceeds its standard error, in words."""
        if self.seeds < 2:
            return "FixCLR's effect cannot be told (fewer than 2 paired seeds)"
        if self.mean > self.se:
            return HELPS
        if self.mean < -self.se:
            return "FixCLR hurts beyond its standard error"
        return "FixCLR does not help beyond its standard error"


def read_sweep_tables(results_dir: str | Path) -> SweepTables:
    """``folds.parquet`` and ``summary.parquet`` of a sweep; a missing one is an error naming it."""
    results_dir = Path(results_dir)
    frames = {}
    for name in ("folds", "summary"):
        path = results_dir / "tables" / f"{name}.parquet"
        if not path.is_file():
            raise ResultError(f"{path} does not exist: run the sweep (snakemake) with results_dir={results_dir}")
        frames[name] = pd.read_parquet(path)
    if frames["folds"].empty:
        raise ResultError(f"{results_dir / 'tables' / 'folds.parquet'} has no finished fold")
    selected_path = results_dir / "tables" / "selected.parquet"
    selected = pd.read_parquet(selected_path) if selected_path.is_file() else None
    return SweepTables(results_dir, frames["folds"], frames["summary"], selected)


def seed_averages(folds: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per (setting, variant, seed): the mean of each of ``columns`` over the target domains, for the
    seeds that have every target domain of their dataset."""
    keys = TABLE_KEYS + ["variant", "seed"]
    n_targets = folds.groupby("dataset")["target_domain"].transform("nunique")
    grouped = folds.assign(n_targets=n_targets).groupby(keys, sort=True)
    frame = grouped[columns].mean()
    complete = grouped["target_domain"].nunique() == grouped["n_targets"].first()
    return frame[complete].reset_index()


def paired_difference(averages: pd.DataFrame, column: str, base: str, other: str) -> PairedDifference | None:
    """``other`` minus ``base`` on ``column``, paired by seed over one setting's seed averages;
    None when no seed has both."""
    by_seed = averages.pivot(index="seed", columns="variant", values=column)
    if base not in by_seed or other not in by_seed:
        return None
    differences = (by_seed[other] - by_seed[base]).dropna()
    if differences.empty:
        return None
    se = differences.std(ddof=1) / math.sqrt(len(differences)) if len(differences) > 1 else math.nan
    return PairedDifference(float(differences.mean()), float(se), len(differences))


def _settings(averages: pd.DataFrame):
    """(title, seed averages) of each experiment setting (dataset, backbone, pretrained, labels)."""
    for (dataset, backbone, pretrained, labels), setting in averages.groupby(TABLE_KEYS, sort=True):
        yield f"{dataset}, {backbone}{' (ImageNet-pretrained)' if pretrained else ''}, {labels} labels per class", setting


def _mean_std(values: pd.Series) -> str:
    """``mean ± std`` over seeds; one seed says so."""
    return f"{values.mean():.1f} (n=1)" if len(values) < 2 else f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"


def _markdown_table(rows: dict[str, dict[str, str]], index_name: str) -> str:
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = index_name
    return format_table(table, "markdown")


def accuracy_tables(summary: pd.DataFrame) -> list[str]:
    """Methods x targets + Avg (mean ± std over seeds) under each of the page's selection rules."""
    lines = []
    for selection, name in PAGE_SELECTIONS.items():
        for title, table in paper_tables(summary, selection).items():
            lines += [f"**{title.rsplit(', selection:', 1)[0]}; {name}**", "", format_table(table, "markdown")]
    return lines


def fixclr_effect(folds: pd.DataFrame, with_target: bool = False) -> list[str]:
    """Per setting and method with a +fixclr variant: the paired difference on the LODO average under
    each selection rule, a table and one verdict sentence per method (and, ``with_target``, whether
    issue 6's bar is met)."""
    columns = {selection: f"acc_{selection}" for selection in PAGE_SELECTIONS}
    lines = []
    for title, setting in _settings(seed_averages(folds, list(columns.values()))):
        variants = set(setting["variant"])
        rows, sentences, val_differences = {}, [], {}
        for method in [v for v in variant_order(variants) if f"{v}+fixclr" in variants]:
            diffs = {s: paired_difference(setting, column, method, f"{method}+fixclr") for s, column in columns.items()}
            if any(diff is None for diff in diffs.values()):
                continue
            val_differences[method] = diffs["val"]
            rows[method] = {f"Δ Avg, {s} ± SE": diff.text() for s, diff in diffs.items()}
            rows[method].update(seeds=str(diffs["val"].seeds), verdict=diffs["val"].verdict())
            sentences.append(f"- **{method}**: " + "; ".join(
                f"with the {PAGE_SELECTIONS[s]}, {diff.verdict()} ({diff.text()} points)"
                for s, diff in diffs.items()) + ".")
        if rows:
            lines += [f"**{title}**: FixCLR minus the method alone, target accuracy averaged over the target "
                      "domains, paired by seed (SE = std(d) / sqrt(seeds)).", "",
                      _markdown_table(rows, "method"), *sentences, ""]
            lines += [_target_statement(val_differences), ""] if with_target else []
    return lines


def _target_statement(differences: dict[str, PairedDifference]) -> str:
    """Issue 6's bar: FixMatch and at least two other SSL methods helped beyond the SE (val selection);
    and, as a stricter reading, which ones clear two standard errors."""
    ssl = [method for method in differences if method != "erm"]
    helped = [method for method in ssl if differences[method].verdict() == HELPS]
    strict = [method for method in ssl if differences[method].mean > 2 * differences[method].se]
    met = "fixmatch" in helped and len(helped) >= 3
    return (f"With source-validation selection FixCLR helps beyond its standard error for {len(helped)} of "
            f"{len(ssl)} SSL methods{' (' + ', '.join(helped) + ')' if helped else ''}. The project's target "
            f"(FixMatch and at least two other SSL methods) is **{'met' if met else 'not met'}**. One standard "
            f"error is a weak bar with {max(d.seeds for d in differences.values())} seeds: beyond two standard "
            f"errors FixCLR helps for {', '.join(strict) if strict else 'none of them'}.")


def ablation_table(folds: pd.DataFrame) -> list[str]:
    """Each ablation variant's LODO average (val and last selection), its source-validation accuracy
    and its paired difference from plain FixMatch; names the variant source validation would pick."""
    columns = {"target Avg, val": "acc_val", "target Avg, last": "acc_last", "source val (last)": "val_acc_last"}
    lines = []
    for title, setting in _settings(seed_averages(folds, list(columns.values()))):
        rows = {}
        for variant in variant_order(setting["variant"]):
            runs = setting[setting["variant"] == variant]
            rows[variant] = {name: _mean_std(runs[column]) for name, column in columns.items()}
            diff = paired_difference(setting, "acc_val", REFERENCE_VARIANT, variant)
            rows[variant][f"Δ vs {REFERENCE_VARIANT}, val ± SE"] = diff.text() if diff and variant != REFERENCE_VARIANT else "–"
        source_val = setting.groupby("variant")["val_acc_last"].mean()
        fixclr_variants = source_val[[v for v in source_val.index if "+fixclr" in v]]
        lines += [f"**{title}**: target accuracy averaged over target domains (mean ± std over seeds), "
                  "mean source-validation accuracy of the last model, and the paired difference from "
                  f"plain {REFERENCE_VARIANT}.", "", _markdown_table(rows, "variant")]
        if not fixclr_variants.empty:
            lines += [f"Chosen on source validation alone, the FixCLR setting would be "
                      f"`{fixclr_variants.idxmax()}` ({fixclr_variants.max():.1f} % source-validation accuracy).", ""]
    return lines


def borrowed_references(ablation: pd.DataFrame) -> list[str]:
    """The reference variants the ablation did not run itself (its table takes them from the grid)."""
    return [variant for variant in ABLATION_REFERENCES if variant not in set(ablation["variant"])]


def with_grid_references(ablation: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """The ablation's folds plus the grid's folds of the reference variants the ablation did not run."""
    return pd.concat([grid[grid["variant"].isin(borrowed_references(ablation))], ablation], ignore_index=True)


def domain_count_comparison(few: pd.DataFrame, many: pd.DataFrame) -> list[str]:
    """The LODO average (val selection) of each variant run on both sweeps' datasets, side by side."""
    columns = {}
    for folds in (few, many):
        for dataset, frame in seed_averages(folds, ["acc_val"]).groupby("dataset"):
            domains = 1 + len(folds.loc[folds["dataset"] == dataset, "source_domains"].iloc[0].split(","))
            name = f"{dataset} ({domains} domains)"
            columns[name] = {variant: _mean_std(runs["acc_val"]) for variant, runs in frame.groupby("variant")}
    shared = set.intersection(*(set(column) for column in columns.values()))
    if not shared:
        return []
    rows = {variant: {name: column[variant] for name, column in columns.items()} for variant in variant_order(shared)}
    return ["Target accuracy averaged over target domains (source-validation selection), "
            "as the number of domains grows:", "", _markdown_table(rows, "variant")]


def searched_comparison(search: SweepTables) -> list[str]:
    """The searched sweep under training-domain validation: the table, FixCLR's paired effect on the
    selected values, and which trials (hyperparameters) were selected how often."""
    if search.selected is None:
        raise ResultError(f"{search.results_dir / 'tables' / 'selected.parquet'} does not exist: rerun the "
                                "search sweep's aggregate rule")
    trials = int(search.folds["trials"].max())
    lines = [f"Every variant had the same budget of {trials} trials (trial 0: the sweep's settings; trials 1-"
             f"{trials - 1}: drawn from the distributions each method declares, `fixclr/hparams.py`). Selection "
             "rule: **training-domain validation**, per (method, target, seed) the trial and step with the best "
             "mean source-validation accuracy over every trial (no target label is used; docs/selection.md). "
             "acc_last here is the last step of the default trial.", ""]
    for title, table in paper_tables(search.summary, "val").items():
        lines += [f"**{title.rsplit(', selection:', 1)[0]}; training-domain validation over {trials} trials**", "",
                  format_table(table, "markdown")]
    lines += fixclr_effect(wide(search.selected))
    summary = selection_summary(search.selected)
    if not summary.empty:
        lines += ["Trials selected (training-domain validation), over the (target, seed) pairs of each method:", "",
                  format_table(summary, "markdown")]
    return lines


def wall_time_text(sweeps: dict[str, SweepTables]) -> str:
    """Folds and their summed wall time per sweep (result.json's wall_s) and in all."""
    def clock(seconds: float) -> str:
        seconds = round(seconds)
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    parts = [f"{Path(SWEEP_CONFIGS[name]).stem}: {len(t.folds)} folds, {clock(t.folds['wall_s'].sum())} "
             f"(longest fold {t.folds['wall_s'].max():.0f} s)" for name, t in sweeps.items()]
    total = sum(t.folds["wall_s"].sum() for t in sweeps.values())
    return (f"Training wall time of the folds, summed (result.json `wall_s`, h:mm:ss; without process start-up, "
            f"data preparation and waiting for a core): {'; '.join(parts)}; in all {clock(total)}.")


def reproduce_command(page: Path, dirs: dict[str, Path]) -> str:
    """The shell sequence that runs the sweeps into ``dirs`` and writes ``page``."""
    runs = [f"snakemake --cores 2 --configfile {SWEEP_CONFIGS[name]} --config results_dir={d}" for name, d in dirs.items()]
    options = " ".join(f"--{name} {d}" for name, d in dirs.items())
    return " && \\\n".join([*runs, f"fixclr report --page {page} {options}"])


def underfit_section(warnings: dict[str, list[str]]) -> list[str]:
    """The page's underfitting warning per sweep, naming the folds; nothing when no sweep has one."""
    lines = []
    for name, warning in warnings.items():
        if warning:
            lines += [f"**{Path(SWEEP_CONFIGS[name]).stem}** {warning[0]}", "",
                      *[f"- {line.strip()}" for line in warning[1:]], ""]
    return ["## Underfitting warning", "", *lines] if lines else []


def results_page(sweeps: dict[str, SweepTables], command: str, picture: str = PICTURE_NAME,
                 underfit: dict[str, list[str]] | None = None) -> str:
    """The page's markdown from the sweeps' tables (keys ``grid`` and optionally ``ablation``, ``many``)
    and, per sweep, its underfitting warning (lines of fixclr.results.underfit.warning_lines)."""
    commits = sorted({str(c) for t in sweeps.values() for c in t.folds["git_commit"].fillna("unknown")})
    grid = sweeps["grid"]
    lines = ["# Results on the demo dataset", "",
             "Generated by `fixclr report --page` from the Parquet tables the sweeps wrote; do not edit by hand. "
             "Cells: target-domain accuracy (%), mean ± std over seeds; Avg: mean over target domains per seed, "
             "then mean ± std over seeds. Selection: acc_val = the step with the best source-validation accuracy "
             "(no target label is used), acc_last = the final model.", "",
             "Reproduce (CPU runs are deterministic):", "", "```bash", command, "```", "",
             f"Commit{'s' if len(commits) > 1 else ''} of the folds: {', '.join(f'`{c}`' for c in commits)}. "
             + wall_time_text(sweeps), "",
             *underfit_section(underfit or {}),
             "## Main grid: every method with and without FixCLR", "", *accuracy_tables(grid.summary),
             f"![Target accuracy per domain, method next to method+FixCLR]({picture})", "",
             "## Does FixCLR help?", "", *fixclr_effect(grid.folds, with_target=True)]
    if "ablation" in sweeps:
        defaults = ", ".join(f"{key} {value}" for key, value in DEFAULTS["fixclr"].items() if key in ABLATED)
        borrowed = borrowed_references(sweeps["ablation"].folds)
        lines += ["## Ablation of FixCLR (on FixMatch)", "",
                  f"Each variant changes one setting from the trainer's defaults ({defaults}; fixclr/config.py, "
                  "chosen on source validation). Target accuracy is reported here, never used to choose."
                  + (f" The rows {' and '.join(borrowed)} are the main grid's folds." if borrowed else ""), "",
                  *ablation_table(with_grid_references(sweeps["ablation"].folds, grid.folds))]
    if "search" in sweeps:
        lines += ["## Every method searched with the same budget", "", *searched_comparison(sweeps["search"])]
    if "many" in sweeps:
        many = sweeps["many"]
        lines += ["## Many domains", "", *accuracy_tables(many.summary), *fixclr_effect(many.folds),
                  *domain_count_comparison(grid.folds, many.folds)]
    return "\n".join(lines).rstrip() + "\n"


def write_results_page(out: str | Path, grid: str | Path, ablation: str | Path | None = None,
                       many: str | Path | None = None, command: str | None = None,
                       search: str | Path | None = None) -> tuple[Path, Path]:
    """Write the page ``out`` and, next to it, the grid report's picture as ``results.png``.

    ``grid``, ``ablation``, ``many`` and ``search`` are the sweeps' results folders (``<dir>/tables/*.parquet``,
    ``<dir>/report/summary.png``); ``command`` defaults to :func:`reproduce_command`.
    """
    out = Path(out)
    dirs = {name: Path(d) for name, d in (("grid", grid), ("ablation", ablation), ("many", many), ("search", search))
            if d is not None}
    sweeps = {name: read_sweep_tables(d) for name, d in dirs.items()}
    figure = dirs["grid"] / "report" / "summary.png"
    if not figure.is_file():
        raise FileNotFoundError(f"{figure} does not exist: run the grid sweep's report rule (snakemake) first")
    underfit = {name: warning_lines(tables_underfit_signs(d / "tables"), len(sweeps[name].folds)) for name, d in dirs.items()}
    text = results_page(sweeps, command or reproduce_command(out, dirs), underfit=underfit)
    picture = out.parent / PICTURE_NAME
    atomic_write_bytes(picture, figure.read_bytes())
    atomic_write_text(out, text)
    return out, picture
