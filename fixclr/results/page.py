"""A results page (e.g. docs/results.md) from the Parquet tables of one or more sweeps, laid out by a
page spec (a YAML file kept next to the sweep configs, e.g. config/results_page.yaml).

The spec names the sweeps (each its config and results folder), the page's title and prose, and its
sections in order; each section shows parts of one sweep: ``accuracy_tables`` (methods x targets + Avg
under each of the page's selection rules), ``picture`` (the sweep's report picture, copied next to
the page), ``fixclr_effect`` (FixCLR's effect per method as a paired difference over seeds with its
standard error and a plain verdict; optionally judged against a ``goal``), ``ablation_table``
(each variant against a ``reference`` variant, optionally with rows ``borrow``ed from another sweep),
``searched_comparison`` (a hyperparameter search under training-domain validation, from
``selected.parquet``) and ``domain_count_comparison`` (against the sweep ``compare_with``). Seed
averages come from fixclr.results.aggregate.seed_averages, as summary.md's Avg column does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from fixclr.config import DEFAULTS
from fixclr.io import atomic_write_bytes, atomic_write_text
from fixclr.results.aggregate import ResultError, seed_averages
from fixclr.results.selection import wide
from fixclr.results.tables import (
    TABLE_KEYS, format_table, paper_tables, selection_summary, setting_title, variant_order)
from fixclr.results.underfit import tables_underfit_signs, warning_lines

PAGE_SELECTIONS = {"val": "source-validation selection (acc_val)", "last": "last model (acc_last)"}
PARTS = ("accuracy_tables", "picture", "fixclr_effect", "ablation_table", "searched_comparison",
         "domain_count_comparison")  # what a section of the page spec may show
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
    for key, setting in averages.groupby(TABLE_KEYS, sort=True):
        yield setting_title(*key), setting


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


def fixclr_effect(folds: pd.DataFrame, goal: dict | None = None) -> list[str]:
    """Per setting and method with a +fixclr variant: the paired difference on the LODO average under
    each selection rule, a table and one verdict sentence per method (and, with a ``goal``, the
    sentence judging it: ``goal_statement``)."""
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
            lines += [goal_statement(val_differences, goal), ""] if goal else []
    return lines


def goal_statement(differences: dict[str, PairedDifference], goal: dict) -> str:
    """The spec's ``goal.text`` filled in from FixCLR's effects under source-validation selection:
    the methods other than ``goal.baselines`` it helps beyond one standard error ({helped_count} of
    {count}{helped_list}), beyond two ({strict}), the most paired seeds ({seeds}), and {verdict}: "met"
    when it helps every method of ``goal.required`` and at least ``goal.at_least`` methods."""
    methods = [method for method in differences if method not in goal.get("baselines", [])]
    helped = [method for method in methods if differences[method].verdict() == HELPS]
    strict = [method for method in methods if differences[method].mean > 2 * differences[method].se]
    met = all(method in helped for method in goal.get("required", [])) and len(helped) >= goal.get("at_least", 1)
    return " ".join(goal["text"].split()).format(
        helped_count=len(helped), count=len(methods), helped_list=f" ({', '.join(helped)})" if helped else "",
        verdict="met" if met else "not met", seeds=max(d.seeds for d in differences.values()),
        strict=", ".join(strict) if strict else "none of them")


def ablation_table(folds: pd.DataFrame, reference: str) -> list[str]:
    """Each ablation variant's LODO average (val and last selection), its source-validation accuracy
    and its paired difference from the ``reference`` variant; names the variant source validation would pick."""
    columns = {"target Avg, val": "acc_val", "target Avg, last": "acc_last", "source val (last)": "val_acc_last"}
    lines = []
    for title, setting in _settings(seed_averages(folds, list(columns.values()))):
        rows = {}
        for variant in variant_order(setting["variant"]):
            runs = setting[setting["variant"] == variant]
            rows[variant] = {name: _mean_std(runs[column]) for name, column in columns.items()}
            diff = paired_difference(setting, "acc_val", reference, variant)
            rows[variant][f"Δ vs {reference}, val ± SE"] = diff.text() if diff and variant != reference else "–"
        source_val = setting.groupby("variant")["val_acc_last"].mean()
        fixclr_variants = source_val[[v for v in source_val.index if "+fixclr" in v]]
        lines += [f"**{title}**: target accuracy averaged over target domains (mean ± std over seeds), "
                  "mean source-validation accuracy of the last model, and the paired difference from "
                  f"plain {reference}.", "", _markdown_table(rows, "variant")]
        if not fixclr_variants.empty:
            lines += [f"Chosen on source validation alone, the FixCLR setting would be "
                      f"`{fixclr_variants.idxmax()}` ({fixclr_variants.max():.1f} % source-validation accuracy).", ""]
    return lines


def borrowed_rows(folds: pd.DataFrame, variants: list[str]) -> list[str]:
    """The ``variants`` a sweep did not run itself (its table takes them from another sweep)."""
    return [variant for variant in variants if variant not in set(folds["variant"])]


def with_borrowed_rows(folds: pd.DataFrame, other: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """``folds`` plus ``other``'s folds of the ``variants`` that ``folds`` lacks."""
    return pd.concat([other[other["variant"].isin(borrowed_rows(folds, variants))], folds], ignore_index=True)


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


@dataclass(frozen=True)
class PageSpec:
    """A page spec file: ``sweeps`` (name -> {config, results_dir}), ``title``, ``intro``,
    ``reproduce`` (the line above the command), ``picture`` ({sweep, caption}) and ``sections``."""

    path: Path
    sweeps: dict[str, dict]
    title: str
    intro: str
    reproduce: str
    picture: dict
    sections: list[dict]


def read_page_spec(path: str | Path) -> PageSpec:
    """The page spec at ``path``; a bad one is an error naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise ResultError(f"{path}: no such page spec file")
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict):
        raise ResultError(f"{path}: a page spec must be a YAML mapping")
    missing = [key for key in ("sweeps", "title", "sections", "picture") if key not in spec]
    if missing:
        raise ResultError(f"{path}: missing key(s) {', '.join(missing)}")
    sweeps = spec["sweeps"]
    for name, sweep in sweeps.items():
        if not (isinstance(sweep, dict) and {"config", "results_dir"} <= set(sweep)):
            raise ResultError(f"{path}: sweeps.{name}: needs config and results_dir")
    named = [("picture.sweep", spec["picture"].get("sweep"))]
    for index, section in enumerate(spec["sections"]):
        where = f"sections[{index}]"
        named += [(f"{where}.sweep", section.get("sweep")), (f"{where}.compare_with", section.get("compare_with", ...)),
                  (f"{where}.borrow.sweep", (section.get("borrow") or {}).get("sweep", ...))]
        unknown = [part for part in section.get("show", []) if part not in PARTS]
        if unknown:
            raise ResultError(f"{path}: {where}.show: unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
        if "ablation_table" in section.get("show", []) and "reference" not in section:
            raise ResultError(f"{path}: {where}: ablation_table needs a reference variant")
    for key, name in named:
        if name is not ... and name not in sweeps:
            raise ResultError(f"{path}: {key}: {name!r} is not one of sweeps: {', '.join(sweeps)}")
    return PageSpec(path, sweeps, spec["title"], " ".join(spec.get("intro", "").split()),
                    spec.get("reproduce", "Reproduce:"), spec["picture"], spec["sections"])


def wall_time_text(sweeps: dict[str, SweepTables], spec: PageSpec) -> str:
    """Folds and their summed wall time per sweep (result.json's wall_s) and in all."""
    def clock(seconds: float) -> str:
        seconds = round(seconds)
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    parts = [f"{_label(spec, name)}: {len(t.folds)} folds, {clock(t.folds['wall_s'].sum())} "
             f"(longest fold {t.folds['wall_s'].max():.0f} s)" for name, t in sweeps.items()]
    total = sum(t.folds["wall_s"].sum() for t in sweeps.values())
    return (f"Training wall time of the folds, summed (result.json `wall_s`, h:mm:ss; without process start-up, "
            f"data preparation and waiting for a core): {'; '.join(parts)}; in all {clock(total)}.")


def _label(spec: PageSpec, name: str) -> str:
    """A sweep's name on the page: its config file's stem."""
    return Path(spec.sweeps[name]["config"]).stem


def reproduce_command(page: Path, spec: PageSpec, dirs: dict[str, Path]) -> str:
    """The shell sequence that runs the sweeps into ``dirs`` and writes ``page``."""
    runs = [f"snakemake --cores 2 --configfile {spec.sweeps[name]['config']} --config results_dir={d}"
            for name, d in dirs.items()]
    options = " ".join(f"--results {name}={d}" for name, d in dirs.items())
    return " && \\\n".join([*runs, f"fixclr report --page {page} --spec {spec.path} {options}"])


def underfit_section(warnings: dict[str, list[str]], spec: PageSpec) -> list[str]:
    """The page's underfitting warning per sweep, naming the folds; nothing when no sweep has one."""
    lines = []
    for name, warning in warnings.items():
        if warning:
            lines += [f"**{_label(spec, name)}** {warning[0]}", "", *[f"- {line.strip()}" for line in warning[1:]], ""]
    return ["## Underfitting warning", "", *lines] if lines else []


def section_lines(section: dict, sweeps: dict[str, SweepTables], picture: str, caption: str) -> list[str]:
    """One section of the page: its heading, its ``text`` and the parts it ``show``s of its sweep."""
    tables = sweeps[section["sweep"]]
    other = sweeps.get(section.get("compare_with"))
    lines = [f"## {section['heading']}", ""]
    folds, text = tables.folds, " ".join(section.get("text", "").split())
    if "borrow" in section and section["borrow"]["sweep"] in sweeps:
        borrow = section["borrow"]
        borrowed = borrowed_rows(folds, borrow["variants"])
        folds = with_borrowed_rows(folds, sweeps[borrow["sweep"]].folds, borrow["variants"])
        text += " " + " ".join(borrow["text"].split()).format(rows=" and ".join(borrowed)) if borrowed else ""
    if "defaults" in section:
        text = text.format(defaults=", ".join(f"{key} {value}" for key, value in DEFAULTS["fixclr"].items()
                                              if key in section["defaults"]))
    lines += [text, ""] if text else []
    for part in section.get("show", []):
        if part == "accuracy_tables":
            lines += accuracy_tables(tables.summary)
        elif part == "picture":
            lines += [f"![{caption}]({picture})", ""]
        elif part == "fixclr_effect":
            lines += fixclr_effect(folds, section.get("goal"))
        elif part == "ablation_table":
            lines += ablation_table(folds, section["reference"])
        elif part == "searched_comparison":
            lines += searched_comparison(tables)
        elif part == "domain_count_comparison" and other is not None:
            lines += domain_count_comparison(other.folds, folds)
    return lines


def results_page(spec: PageSpec, sweeps: dict[str, SweepTables], command: str, picture: str = PICTURE_NAME,
                 underfit: dict[str, list[str]] | None = None) -> str:
    """The page's markdown: the spec's title, intro and the command, the folds' commits and wall time,
    each sweep's underfitting warning (lines of fixclr.results.underfit.warning_lines), then each
    section of the spec whose sweep is among ``sweeps``."""
    commits = sorted({str(c) for t in sweeps.values() for c in t.folds["git_commit"].fillna("unknown")})
    lines = [f"# {spec.title}", "", *([spec.intro, ""] if spec.intro else []),
             spec.reproduce, "", "```bash", command, "```", "",
             f"Commit{'s' if len(commits) > 1 else ''} of the folds: {', '.join(f'`{c}`' for c in commits)}. "
             + wall_time_text(sweeps, spec), "",
             *underfit_section(underfit or {}, spec)]
    for section in spec.sections:
        if section["sweep"] in sweeps:
            lines += section_lines(section, sweeps, picture, spec.picture.get("caption", "results"))
    return "\n".join(lines).rstrip() + "\n"


def write_results_page(out: str | Path, spec_path: str | Path, results: dict[str, str | Path] | None = None,
                       command: str | None = None) -> tuple[Path, Path]:
    """Write the page ``out`` from the page spec at ``spec_path`` and, next to it, the report picture
    of the spec's ``picture.sweep`` as ``results.png``.

    ``results`` maps sweep names of the spec to their results folders (``<dir>/tables/*.parquet``,
    ``<dir>/report/summary.png``); only those sweeps are on the page. Default: every sweep of the spec
    at its ``results_dir``. ``command`` defaults to :func:`reproduce_command`.
    """
    out, spec = Path(out), read_page_spec(spec_path)
    results = results or {name: sweep["results_dir"] for name, sweep in spec.sweeps.items()}
    unknown = [name for name in results if name not in spec.sweeps]
    if unknown:
        raise ResultError(f"{spec.path}: no sweep {', '.join(map(repr, unknown))} (sweeps: {', '.join(spec.sweeps)})")
    dirs = {name: Path(results[name]) for name in spec.sweeps if name in results}  # in the spec's order
    if spec.picture["sweep"] not in dirs:
        raise ResultError(f"the page's picture is sweep {spec.picture['sweep']!r}'s ({spec.path}: picture.sweep): "
                          "give its results folder")
    sweeps = {name: read_sweep_tables(d) for name, d in dirs.items()}
    figure = dirs[spec.picture["sweep"]] / "report" / "summary.png"
    if not figure.is_file():
        raise FileNotFoundError(f"{figure} does not exist: run the {spec.picture['sweep']} sweep's report rule "
                                "(snakemake) first")
    underfit = {name: warning_lines(tables_underfit_signs(d / "tables"), len(sweeps[name].folds)) for name, d in dirs.items()}
    text = results_page(spec, sweeps, command or reproduce_command(out, spec, dirs), underfit=underfit)
    picture = out.parent / PICTURE_NAME
    atomic_write_bytes(picture, figure.read_bytes())
    atomic_write_text(out, text)
    return out, picture
