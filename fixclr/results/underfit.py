"""Does a sweep look underfit? Checks on the evaluation records (``metrics.jsonl``) of its finished
folds, as ``evaluations.parquet`` holds them (fixclr.results.aggregate.collect_evaluations).

A fold is flagged, with the reason, when

* **still rising**: its final evaluation's target accuracy, or its mean source-validation accuracy,
  exceeds the best of its earlier evaluations in the second half of training (steps >= half the
  final step; all earlier ones if none is there) by more than ``RISE_POINTS`` percentage points;
* **low mask rate**: it trains an SSL method (its records have a mask rate) and the mask rate of its
  final evaluation (share of unlabeled images past the pseudo-label threshold over the steps since
  the evaluation before) is below ``MIN_MASK_RATE``.

A fold with a single evaluation is only checked for its mask rate. Either sign means the method has
not converged: train longer before drawing conclusions from the sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fixclr.results.aggregate import collect_evaluations, collect_folds

RISE_POINTS = 2.0  # accuracy gain (percentage points) of the last evaluation that counts as still rising
MIN_MASK_RATE = 0.3  # final mask rate below this: the SSL method barely used its unlabeled data
RISING = {"target_acc": "target accuracy", "val_acc_mean": "source-validation accuracy"}


@dataclass(frozen=True)
class UnderfitSign:
    """One reason why one fold looks underfit."""

    fold: str  # fold id (run folder relative to the runs folder)
    reason: str  # "rising" or "mask_rate"
    detail: str  # the figures, in words

    def text(self) -> str:
        return f"{self.fold}: {self.detail}"


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def fold_signs(records: list[dict], fold: str) -> list[UnderfitSign]:
    """The underfitting signs of one fold's evaluation records (see the module docstring)."""
    if not records:
        return []
    last, signs = records[-1], []
    earlier = [r for r in records[:-1] if r["step"] >= last["step"] / 2] or records[:-1]
    for key, name in RISING.items():
        if earlier and _known(last.get(key)):
            best = max(r[key] for r in earlier if _known(r[key]))
            if last[key] > best + RISE_POINTS:
                signs.append(UnderfitSign(fold, "rising", f"{name} still rising: {last[key]:.1f} % at step "
                                          f"{last['step']} against at best {best:.1f} % from step {earlier[0]['step']}"))
    if _known(last.get("mask_rate")) and last["mask_rate"] < MIN_MASK_RATE:
        signs.append(UnderfitSign(fold, "mask_rate", f"final mask rate {last['mask_rate']:.2f} < {MIN_MASK_RATE:g} "
                                  f"(share of unlabeled images past the threshold at step {last['step']})"))
    return signs


def underfit_signs(evaluations: pd.DataFrame) -> list[UnderfitSign]:
    """The underfitting signs of every fold of an evaluations table (one row per record, ``fold_id``)."""
    return [sign for fold, rows in evaluations.groupby("fold_id", sort=True)
            for sign in fold_signs(rows.sort_values("step").to_dict("records"), fold)]


def runs_underfit_signs(runs_dir: str | Path) -> list[UnderfitSign]:
    """The underfitting signs of every finished fold (a run folder with ``done``) under ``runs_dir``."""
    folds = collect_folds(runs_dir)
    return underfit_signs(collect_evaluations(runs_dir, folds)[0])


def tables_underfit_signs(tables_dir: str | Path) -> list[UnderfitSign]:
    """The underfitting signs from a tables folder's ``evaluations.parquet`` (none without one)."""
    path = Path(tables_dir, "evaluations.parquet")
    return underfit_signs(pd.read_parquet(path)) if path.is_file() else []


def warning_lines(signs: list[UnderfitSign], n_folds: int | None = None) -> list[str]:
    """A warning naming the folds and their signs; no lines when there is none."""
    if not signs:
        return []
    folds = sorted({sign.fold for sign in signs})
    of = f" of {n_folds}" if n_folds is not None else ""
    return [f"warning: {len(folds)}{of} finished folds look underfit (train longer before drawing conclusions; "
            f"rising = last evaluation > best earlier one of the second half + {RISE_POINTS:g} points, "
            f"mask rate < {MIN_MASK_RATE:g}):", *[f"  {sign.text()}" for sign in signs]]
