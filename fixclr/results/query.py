"""DuckDB SQL over the Parquet tables: ``folds`` and ``summary``, and ``selected``, ``per_class`` and
``evaluations`` where the aggregation wrote them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

TABLE_NAMES = ("folds", "summary")
OPTIONAL_TABLE_NAMES = ("selected", "per_class", "evaluations")


def run_sql(tables_dir: str | Path, sql: str) -> pd.DataFrame:
    """The result of ``sql`` with ``folds`` and ``summary`` bound to ``<tables_dir>/<name>.parquet``."""
    connection = duckdb.connect()
    try:
        for name in TABLE_NAMES:
            path = Path(tables_dir, f"{name}.parquet")
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist: run `fixclr aggregate` (or snakemake) first")
            connection.read_parquet(str(path)).create_view(name)
        for name in OPTIONAL_TABLE_NAMES:
            path = Path(tables_dir, f"{name}.parquet")
            if path.is_file():
                connection.read_parquet(str(path)).create_view(name)
        return connection.sql(sql).df()
    finally:
        connection.close()
