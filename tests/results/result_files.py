"""Run folders with hand-written result.json and metrics.jsonl files, laid out as the trainer writes them."""

from __future__ import annotations

import json
from pathlib import Path

DOMAINS = ["mono", "color", "photo", "rotated"]


def records_for(acc_last: float, acc_val: float | None = None) -> list[dict]:
    """Three evaluations whose selections give the result.json of ``write_fold``: the best source-val
    step (40) has target accuracy ``acc_val`` (default acc_last - 1), the last step (60) acc_last;
    balanced = top-1 - 3."""
    acc_val = acc_last - 1.0 if acc_val is None else acc_val
    rows = [(20, 80.0, acc_last - 5.0), (40, 95.0, acc_val), (60, 90.0, acc_last)]
    return [{"step": step, "val_acc_mean": val, "target_acc": target, "target_val_acc": target + 0.5,
             "val_balanced_acc_mean": val - 3.0, "target_balanced_acc": target - 3.0,
             "target_val_balanced_acc": target - 2.5} for step, val, target in rows]


def write_fold(runs: Path, variant: str, target: str, seed: int, acc_last: float, *, done: bool = True,
               dataset: str = "digits-dg-mini", backbone: str = "cnn", labels: int = 10, trial: int | None = None,
               records: list[dict] | None = None, **extra) -> Path:
    """Write <runs>/<dataset>/<backbone>/<variant>/[t<trial>/]<target>/n<L>/s<seed>/result.json and
    metrics.jsonl (``records``, default ``records_for(acc_last)``) (+ done)."""
    method, _, regularizer = variant.partition("+")
    trial_level = [] if trial is None else [f"t{trial}"]
    run_dir = runs.joinpath(dataset, backbone, variant, *trial_level, target, f"n{labels}", f"s{seed}")
    run_dir.mkdir(parents=True)
    result = {
        "result_format": 2,
        "dataset": dataset, "target_domain": target, "source_domains": [d for d in DOMAINS if d != target],
        "ssl_method": method, "regularizer": regularizer or "none",
        "regularizer_settings": {"lambda": 0.1, "temperature": 0.2} if regularizer else {},
        "variant": variant, "backbone": backbone, "pretrained": False, "labels_per_class": labels, "seed": seed,
        "acc_last": acc_last, "acc_val": acc_last - 1.0, "acc_oracle": acc_last + 2.0, "val_acc_last": 90.0,
        "best_val_step": 40, "oracle_step": 50, "steps": 60, "wall_s": 12.5, "images_per_s": 300.0,
        "device": "cpu", "gpus": 0, "world_size": 1, "git_commit": "abc123", "config_hash": f"h{seed}{target}",
        **extra,
    }
    if trial is not None:
        result.setdefault("trial", trial)
    (run_dir / "result.json").write_text(json.dumps(result))
    records = records_for(acc_last, result["acc_val"]) if records is None else records
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if done:
        (run_dir / "done").write_text("")
    return run_dir
