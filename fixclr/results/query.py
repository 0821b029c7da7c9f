"""DuckDB SQL over the Parquet tables, seen as the tables ``folds`` and ``summary``."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

TABLE_NAMES = ("folds", "summary")


def run_sql(tables_dir: str | Path, sql: str) -> pd.DataFrame:
    """The result of ``sql`` with ``folds`` and ``summary`` bound to ``<tables_dir>/<name>.parquet``."""
    connection = duckdb.connect()
    try:
        for name in TABLE_NAMES:
            path = Path(tables_dir, f"{name}.parquet")
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist: run `fixclr aggregate` (or snakemake) first")
            connection.read_parquet(str(path)).create_view(name)
        return connection.sql(sql).df()
    finally:
        connection.close()
