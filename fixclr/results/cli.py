"""``fixclr aggregate | results | report``: each a ``main(argv) -> int``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from fixclr.errors import ArgumentParser

DEFAULT_SWEEP = Path("config/config.yaml")


def aggregate_main(argv: list[str]) -> int:
    """Rebuild folds.parquet and summary.parquet from the run folders that have ``done``."""
    from fixclr.results.aggregate import write_tables

    parser = ArgumentParser(prog="fixclr aggregate", description=aggregate_main.__doc__)
    parser.add_argument("--runs", default="results/runs", help="runs folder (default: %(default)s)")
    parser.add_argument("--out", default="results/tables", help="tables folder (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in write_tables(args.runs, args.out):
        print(f"aggregate: wrote {path}", file=sys.stderr)
    return 0


def _sweep_folds(sweep_path: str | None):
    """(runs folder, folds) of the sweep config, or (None, []) when there is none to read."""
    from fixclr.sweep import expand_folds, load_sweep

    if sweep_path is None and not DEFAULT_SWEEP.is_file():
        return None, []
    sweep = load_sweep(sweep_path or DEFAULT_SWEEP)
    return Path(sweep["results_dir"], "runs"), expand_folds(sweep)


def _tables_dir(args: argparse.Namespace, runs_dir: Path | None) -> Path:
    if args.tables:
        return Path(args.tables)
    return runs_dir.parent / "tables" if runs_dir else Path("results/tables")


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", metavar="CONFIG",
                        help=f"sweep config: its tables, and its folds not finished yet (default: {DEFAULT_SWEEP})")
    parser.add_argument("--tables", help="read these tables as they are (default: the sweep's, <results_dir>/tables)")


def _missing(tables: Path, runs_dir: Path | None, folds) -> list[str]:
    from fixclr.results.tables import missing_folds

    if runs_dir is None:
        return []
    return missing_folds(pd.read_parquet(tables / "folds.parquet"), folds, runs_dir)


def results_main(argv: list[str]) -> int:
    """Print the paper-style table(s) of a sweep, or the answer of a DuckDB SQL query.

    With a sweep config (the default), its tables are first rebuilt from the run folders, so a
    half-done sweep shows its finished folds and lists the missing ones."""
    import duckdb

    from fixclr.results.aggregate import ResultError, write_tables
    from fixclr.results.query import run_sql
    from fixclr.results.selection import RULES
    from fixclr.results.tables import FORMATS, METRIC_NAMES, format_table, paper_tables

    parser = ArgumentParser(prog="fixclr results", description=results_main.__doc__)
    _add_sweep_options(parser)
    parser.add_argument("--dataset", help="only this dataset")
    parser.add_argument("--labels", type=int, help="only this label budget (labels per class)")
    parser.add_argument("--backbone", help="only this backbone")
    parser.add_argument("--selection", choices=list(RULES),
                        help="model selection rule (docs/selection.md; default: each of val, last, oracle)")
    parser.add_argument("--metric", choices=list(METRIC_NAMES), default="top1",
                        help="top1 or balanced (mean per-class) accuracy, to choose and to report (default: top1)")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--sql", help='DuckDB SQL over tables folds and summary, e.g. "SELECT * FROM folds"')
    args = parser.parse_args(argv)
    runs_dir, folds = _sweep_folds(args.sweep)
    tables = _tables_dir(args, runs_dir)
    if runs_dir is not None and not args.tables:  # the sweep's own tables: bring them up to date
        write_tables(runs_dir, tables)
    if args.sql:
        try:
            answer = run_sql(tables, args.sql)
        except duckdb.Error as error:
            raise ResultError(f"SQL error in --sql: {error}") from None
        print(answer.to_csv(index=False) if args.format == "csv" else answer.to_string(index=False))
        return 0
    summary_path = tables / "summary.parquet"
    if not summary_path.is_file():
        raise ResultError(f"{summary_path} does not exist: run `fixclr aggregate` (or snakemake) first")
    filters = {"dataset": args.dataset, "labels_per_class": args.labels, "backbone": args.backbone}
    summary = pd.read_parquet(summary_path)
    found = {}
    for rule in [args.selection] if args.selection else list(RULES):
        found.update(paper_tables(summary, rule, args.metric, **filters))
        chosen = _selected(tables, rule, args.metric, filters)
        if not chosen.empty:
            found[f"Selected trials ({rule}, {args.metric})"] = chosen
    for title, table in found.items():
        print(f"{title}\n\n{format_table(table, args.format)}")
    if not found:
        print("no finished folds match", file=sys.stderr)
    missing = _missing(tables, runs_dir, folds)
    if missing:
        print(f"missing folds ({len(missing)} of {len(folds)}):\n  " + "\n  ".join(missing))
    for line in _underfit_warning(tables):
        print(line)
    return 0


def _selected(tables: Path, rule: str, metric: str, filters: dict) -> pd.DataFrame:
    """The trials ``rule`` chose (searched sweeps only; empty otherwise) from selected.parquet."""
    from fixclr.results.tables import selected_trials

    path = tables / "selected.parquet"
    if not path.is_file():
        return pd.DataFrame()
    selected = pd.read_parquet(path)
    for column, value in filters.items():
        if value is not None:
            selected = selected[selected[column] == value]
    return selected_trials(selected, rule, metric)


def _underfit_warning(tables: Path) -> list[str]:
    """The underfitting warning of the tables' finished folds (their evaluations.parquet)."""
    from fixclr.results.underfit import tables_underfit_signs, warning_lines

    folds = tables / "folds.parquet"
    return warning_lines(tables_underfit_signs(tables), len(pd.read_parquet(folds)) if folds.is_file() else None)


def _add_page_options(parser: argparse.ArgumentParser) -> None:
    page = parser.add_argument_group("results page (e.g. docs/results.md) of several sweeps, laid out by a page spec")
    page.add_argument("--page", metavar="FILE", help="write the results page FILE (and results.png next to it) instead")
    page.add_argument("--spec", metavar="SPEC", help="the page spec (required with --page), e.g. config/results_page.yaml")
    page.add_argument("--results", metavar="NAME=DIR", action="append", default=[],
                      help="results_dir of the spec's sweep NAME (repeatable; then only these sweeps are on the page; "
                           "default: every sweep of the spec at its results_dir)")
    page.add_argument("--command", help="the command shown as reproducing the page (default: the snakemake runs and this report)")


def _page_main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from fixclr.results.page import write_results_page

    if not args.spec:
        parser.error("--page needs --spec SPEC")
    results = {}
    for text in args.results:
        name, sep, folder = text.partition("=")
        if not (sep and name and folder):
            parser.error(f"--results {text}: expected NAME=DIR")
        results[name] = folder
    for path in write_results_page(args.page, args.spec, results, args.command):
        print(f"report: wrote {path}", file=sys.stderr)
    return 0


def report_main(argv: list[str]) -> int:
    """Write summary.md and summary.png from the tables, or with --page the results page."""
    from fixclr.results.report import write_report

    parser = ArgumentParser(prog="fixclr report", description=report_main.__doc__)
    _add_sweep_options(parser)
    parser.add_argument("--out", help="report folder (default: next to the tables folder: report/)")
    _add_page_options(parser)
    args = parser.parse_args(argv)
    if args.page:
        return _page_main(parser, args)
    if args.spec or args.results or args.command:
        parser.error("--spec, --results and --command go with --page")
    runs_dir, folds = _sweep_folds(args.sweep) if args.sweep else (None, [])
    tables = _tables_dir(args, runs_dir)
    if not (tables / "summary.parquet").is_file():
        from fixclr.results.aggregate import ResultError

        raise ResultError(f"{tables / 'summary.parquet'} does not exist: run `fixclr aggregate` (or snakemake) first")
    summary = pd.read_parquet(tables / "summary.parquet")
    n_folds = len(pd.read_parquet(tables / "folds.parquet"))
    selected = pd.read_parquet(tables / "selected.parquet") if (tables / "selected.parquet").is_file() else None
    out = Path(args.out) if args.out else tables.parent / "report"
    for path in write_report(summary, out, _missing(tables, runs_dir, folds), n_folds, selected,
                             _underfit_warning(tables)):
        print(f"report: wrote {path}", file=sys.stderr)
    return 0
