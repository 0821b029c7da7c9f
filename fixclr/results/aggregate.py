"""Every finished fold (``done``) -> Parquet tables (docs/architecture.md, docs/selection.md):

- ``folds.parquet``: one row per fold, from its ``result.json``;
- ``evaluations.parquet``: one row per evaluation of a fold, from its ``metrics.jsonl`` (the records);
- ``selected.parquet``: per experiment, selection rule and metric the chosen (trial, step) and value
  (fixclr.results.selection, from the records);
- ``summary.parquet``: mean, std and count over seeds of the selected values per target domain,
  plus an ``avg`` row, per metric;
- ``per_class.parquet``: per selection rule, metric, selected fold and class: the target accuracy,
  count and confusion-matrix row of that class at the selected step.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fixclr.errors import UserError
from fixclr.io import atomic_write_bytes

SELECTIONS = ("last", "val", "oracle")  # model-selection rules: columns acc_<rule>
ACCURACY_COLUMNS = [f"acc_{rule}" for rule in SELECTIONS]
IDENTITY_COLUMNS = [
    "dataset", "target_domain", "source_domains", "ssl_method", "regularizer", "regularizer_settings",
    "variant", "backbone", "pretrained", "labels_per_class", "seed",
]
RUN_COLUMNS = [
    "val_acc_last", "best_val_step", "oracle_step", "steps", "wall_s", "images_per_s", "device", "gpus",
    "world_size", "git_commit", "config_hash",
]
SEARCH_COLUMNS = ["trial", "trials", "hparams"]  # result.json keys of a searched fold (absent before: 0, 1, {})
# A summary row: one experiment (variant x backbone x label budget) on one target domain.
GROUP_COLUMNS = ["dataset", "variant", "ssl_method", "regularizer", "regularizer_settings", "backbone",
                 "pretrained", "labels_per_class"]
AVERAGE_TARGET = "avg"  # target_domain of the average-over-target-domains row


class ResultError(UserError, ValueError):
    """A result.json that cannot be tabulated; the message names the file."""


def fold_id(run_dir: Path, runs_dir: Path) -> str:
    """The run folder relative to the runs folder: dataset/backbone/variant/target/nL/sS."""
    return run_dir.relative_to(runs_dir).as_posix()


def _fold_row(result_path: Path, runs_dir: Path) -> dict:
    try:
        result = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultError(f"{result_path}: unreadable result.json: {error}") from None
    legacy = result.get("result_format", 1) < 2
    expected = [c for c in IDENTITY_COLUMNS + ACCURACY_COLUMNS + RUN_COLUMNS if not (legacy and c == "variant")]
    missing = [key for key in expected if key not in result]
    if missing:
        raise ResultError(f"{result_path}: result.json lacks {', '.join(missing)}")
    row = {key: result[key] for key in expected}
    row["source_domains"] = ",".join(result["source_domains"])
    row["regularizer_settings"] = json.dumps(result["regularizer_settings"] or {}, sort_keys=True)
    row["fold_id"] = fold_id(result_path.parent, runs_dir)
    if legacy:
        row["variant"] = legacy_variant(row["fold_id"])
    row.update(trial=result.get("trial", 0), trials=result.get("trials", 1),
               hparams=json.dumps(result.get("hparams") or {}, sort_keys=True))
    return row


def legacy_variant(fold: str) -> str:
    """LEGACY, for result.json files without ``result_format`` (written before it was 2): their
    ``variant`` lacks the sweep's tag, so the variant is the run folder's variant level
    (<dataset>/<backbone>/<variant>/...). Every newer result.json names its variant itself."""
    return fold.split("/")[2]


def collect_folds(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run folder under ``runs_dir`` that has ``done``, sorted by its fold id."""
    runs_dir = Path(runs_dir)
    rows = [
        _fold_row(done.parent / "result.json", runs_dir)
        for done in sorted(runs_dir.rglob("done")) if (done.parent / "result.json").is_file()
    ]
    columns = IDENTITY_COLUMNS + ACCURACY_COLUMNS + RUN_COLUMNS + ["fold_id"] + SEARCH_COLUMNS
    return pd.DataFrame(rows, columns=columns).sort_values("fold_id", ignore_index=True)


def variant_settings(settings: str, hparams: str) -> str:
    """A fold's regularizer settings (JSON) without the searched ``fixclr.*`` keys: the same for every
    trial of a variant, so the trials of one experiment group together."""
    searched = {key.split(".", 1)[1] for key in json.loads(hparams) if key.startswith("fixclr.")}
    return json.dumps({k: v for k, v in json.loads(settings).items() if k not in searched}, sort_keys=True)


RECORD_EXTRAS = ["mask_rate"]  # record figures kept in evaluations.parquet beyond selection's (underfit.py reads it)


def collect_evaluations(runs_dir: str | Path, folds: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """One row per evaluation (``metrics.jsonl`` line) of every fold of ``folds``: the experiment's
    identity, ``fold_id``, ``trial``, ``hparams``, ``step`` and the figures selection uses (missing
    in old records: NaN); and ``{(fold_id, step): target confusion matrix}`` where recorded."""
    from fixclr.results.selection import EXPERIMENT_COLUMNS, FIGURE_COLUMNS

    rows, confusions = [], {}
    for fold in folds.to_dict("records"):
        path = Path(runs_dir, fold["fold_id"], "metrics.jsonl")
        try:
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as error:
            raise ResultError(f"{path}: unreadable metrics.jsonl: {error}") from None
        identity = {key: fold[key] for key in EXPERIMENT_COLUMNS}
        identity["regularizer_settings"] = variant_settings(fold["regularizer_settings"], fold["hparams"])
        for record in records:
            rows.append({**identity, "fold_id": fold["fold_id"], "trial": fold["trial"], "hparams": fold["hparams"],
                         "step": record["step"], **{key: record.get(key) for key in FIGURE_COLUMNS + RECORD_EXTRAS}})
            if "target_confusion" in record:
                confusions[fold["fold_id"], record["step"]] = record["target_confusion"]
    columns = EXPERIMENT_COLUMNS + ["fold_id", "trial", "hparams", "step"] + FIGURE_COLUMNS + RECORD_EXTRAS
    frame = pd.DataFrame(rows, columns=columns)
    frame[FIGURE_COLUMNS + RECORD_EXTRAS] = frame[FIGURE_COLUMNS + RECORD_EXTRAS].astype("float64")
    return frame, confusions


def per_class_rows(selected: pd.DataFrame, confusions: dict, classes: dict[str, list[str]]) -> pd.DataFrame:
    """Long table: per selected row and class, ``correct``, ``count``, ``accuracy`` (percent; NaN for a
    class without images) and ``predicted`` (that class's confusion-matrix row) at the selected step."""
    from fixclr.results.selection import EXPERIMENT_COLUMNS

    rows = []
    for row in selected.to_dict("records"):
        matrix = confusions.get((row["fold_id"], row["step"]))
        if matrix is None:
            continue
        names = classes.get(row["fold_id"]) or [str(i) for i in range(len(matrix))]
        for index, (name, counts) in enumerate(zip(names, matrix)):
            count = sum(counts)
            rows.append({"rule": row["rule"], "metric": row["metric"], **{k: row[k] for k in EXPERIMENT_COLUMNS},
                         "fold_id": row["fold_id"], "trial": row["trial"], "step": row["step"], "class_index": index,
                         "class": name, "correct": counts[index], "count": count,
                         "accuracy": 100.0 * counts[index] / count if count else float("nan"), "predicted": counts})
    columns = ["rule", "metric", *EXPERIMENT_COLUMNS, "fold_id", "trial", "step", "class_index", "class", "correct",
               "count", "accuracy", "predicted"]
    return pd.DataFrame(rows, columns=columns)


def fold_classes(runs_dir: str | Path, folds: pd.DataFrame) -> dict[str, list[str]]:
    """Class names of each fold, from its per_class.json (absent for folds trained before it existed)."""
    names = {}
    for fid in folds["fold_id"]:
        path = Path(runs_dir, fid, "per_class.json")
        if path.is_file():
            names[fid] = json.loads(path.read_text())["classes"]
    return names


def _mean_std_count(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, sort=True, dropna=False)[ACCURACY_COLUMNS]
    stats = grouped.agg(["mean", "std"])  # std: sample standard deviation over seeds (NaN for one seed)
    stats.columns = [f"{column}_{stat}" for column, stat in stats.columns]
    stats["count"] = grouped.size()
    return stats.reset_index()


def summarize_selected(selected: pd.DataFrame) -> pd.DataFrame:
    """``summarize`` of the selected values (one ``acc_<rule>`` column per rule) of each metric,
    stacked with a ``metric`` column."""
    from fixclr.results.selection import METRICS, wide

    frames = [summarize(wide(selected, metric)).assign(metric=metric) for metric in METRICS]
    return pd.concat(frames, ignore_index=True)


def seed_averages(folds: pd.DataFrame, columns: list[str] = ACCURACY_COLUMNS) -> pd.DataFrame:
    """Per experiment (``GROUP_COLUMNS``) and seed: the mean of each of ``columns`` over the target
    domains, for the seeds that have every target domain of their experiment (the others are left
    out). The one definition of a seed's LODO average: ``summarize``'s avg rows and the results page
    (fixclr.results.page) both take it from here."""
    targets = folds.groupby(GROUP_COLUMNS, dropna=False)["target_domain"].transform("nunique")
    per_seed = folds.assign(n_targets=targets).groupby(GROUP_COLUMNS + ["seed"], dropna=False)
    means = per_seed[columns].mean()[per_seed.size() == per_seed["n_targets"].first()]
    return means.reset_index()


def summarize(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per (experiment, target domain), and per experiment an ``avg``
    row: mean/std over seeds of ``seed_averages``."""
    per_target = _mean_std_count(folds, GROUP_COLUMNS + ["target_domain"])
    average = _mean_std_count(seed_averages(folds), GROUP_COLUMNS).assign(target_domain=AVERAGE_TARGET)
    summary = pd.concat([per_target, average[per_target.columns]], ignore_index=True)
    return summary.sort_values(GROUP_COLUMNS + ["target_domain"], ignore_index=True)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


TABLE_FILES = ("folds", "summary", "selected", "per_class", "evaluations")


def write_tables(runs_dir: str | Path, tables_dir: str | Path) -> tuple[Path, ...]:
    """Rebuild every table (``TABLE_FILES``, ``<name>.parquet``) in ``tables_dir`` atomically; returns
    their paths in that order. Selection reads the records (metrics.jsonl), never result.json's rules."""
    from fixclr.results.selection import select_all

    folds = collect_folds(runs_dir)
    evaluations, confusions = collect_evaluations(runs_dir, folds)
    selected = select_all(evaluations)
    frames = {"folds": folds, "summary": summarize_selected(selected), "selected": selected,
              "per_class": per_class_rows(selected, confusions, fold_classes(runs_dir, folds)),
              "evaluations": evaluations}
    paths = tuple(Path(tables_dir, f"{name}.parquet") for name in TABLE_FILES)
    for name, path in zip(TABLE_FILES, paths):
        atomic_write_bytes(path, _parquet_bytes(frames[name]))
    return paths
