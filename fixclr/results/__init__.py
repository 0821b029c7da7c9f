"""Results of a sweep: finished folds' ``result.json`` -> Parquet tables -> tables, queries, report.

Only ``result.json`` files of run folders with ``done`` are read (docs/architecture.md), so the
tables are always rebuilt from, and consistent with, the run folders.
"""
