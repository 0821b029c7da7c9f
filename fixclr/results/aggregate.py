"""``result.json`` of every finished fold -> ``folds.parquet`` (one row per fold) and
``summary.parquet`` (mean, std and count over seeds per target domain, plus an ``avg`` row)."""

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
    expected = [c for c in IDENTITY_COLUMNS + ACCURACY_COLUMNS + RUN_COLUMNS if c != "variant"]
    missing = [key for key in expected if key not in result]
    if missing:
        raise ResultError(f"{result_path}: result.json lacks {', '.join(missing)}")
    row = {key: result[key] for key in expected}
    row["source_domains"] = ",".join(result["source_domains"])
    row["regularizer_settings"] = json.dumps(result["regularizer_settings"] or {}, sort_keys=True)
    row["variant"] = result_path.parent.parts[-4]  # the sweep's variant name, incl. an ablation tag
    row["fold_id"] = fold_id(result_path.parent, runs_dir)
    return row


def collect_folds(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run folder under ``runs_dir`` that has ``done``, sorted by its fold id."""
    runs_dir = Path(runs_dir)
    rows = [
        _fold_row(done.parent / "result.json", runs_dir)
        for done in sorted(runs_dir.rglob("done")) if (done.parent / "result.json").is_file()
    ]
    columns = IDENTITY_COLUMNS + ACCURACY_COLUMNS + RUN_COLUMNS + ["fold_id"]
    return pd.DataFrame(rows, columns=columns).sort_values("fold_id", ignore_index=True)


def _mean_std_count(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, sort=True, dropna=False)[ACCURACY_COLUMNS]
    stats = grouped.agg(["mean", "std"])  # std: sample standard deviation over seeds (NaN for one seed)
    stats.columns = [f"{column}_{stat}" for column, stat in stats.columns]
    stats["count"] = grouped.size()
    return stats.reset_index()


def summarize(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per (experiment, target domain), and per experiment an ``avg``
    row: the mean over target domains of each seed that has every target, then mean/std over seeds."""
    per_target = _mean_std_count(folds, GROUP_COLUMNS + ["target_domain"])
    targets = folds.groupby(GROUP_COLUMNS, dropna=False)["target_domain"].transform("nunique")
    per_seed = folds.assign(n_targets=targets).groupby(GROUP_COLUMNS + ["seed"], dropna=False)
    seed_means = per_seed[ACCURACY_COLUMNS].mean()[per_seed.size() == per_seed["n_targets"].first()]
    average = _mean_std_count(seed_means.reset_index(), GROUP_COLUMNS).assign(target_domain=AVERAGE_TARGET)
    summary = pd.concat([per_target, average[per_target.columns]], ignore_index=True)
    return summary.sort_values(GROUP_COLUMNS + ["target_domain"], ignore_index=True)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def write_tables(runs_dir: str | Path, tables_dir: str | Path) -> tuple[Path, Path]:
    """Rebuild ``folds.parquet`` and ``summary.parquet`` in ``tables_dir`` atomically."""
    folds = collect_folds(runs_dir)
    tables_dir = Path(tables_dir)
    folds_path, summary_path = tables_dir / "folds.parquet", tables_dir / "summary.parquet"
    atomic_write_bytes(folds_path, _parquet_bytes(folds))
    atomic_write_bytes(summary_path, _parquet_bytes(summarize(folds)))
    return folds_path, summary_path
