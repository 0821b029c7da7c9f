"""Run folders with hand-written result.json files, laid out as the trainer writes them."""

from __future__ import annotations

import json
from pathlib import Path

DOMAINS = ["mono", "color", "photo", "rotated"]


def write_fold(runs: Path, variant: str, target: str, seed: int, acc_last: float, *, done: bool = True,
               dataset: str = "digits-dg-mini", backbone: str = "cnn", labels: int = 10, **extra) -> Path:
    """Write <runs>/<dataset>/<backbone>/<variant>/<target>/n<L>/s<seed>/result.json (+ done)."""
    method, _, regularizer = variant.partition("+")
    run_dir = runs / dataset / backbone / variant / target / f"n{labels}" / f"s{seed}"
    run_dir.mkdir(parents=True)
    result = {
        "dataset": dataset, "target_domain": target, "source_domains": [d for d in DOMAINS if d != target],
        "ssl_method": method, "regularizer": regularizer or "none",
        "regularizer_settings": {"lambda": 0.1, "temperature": 0.2} if regularizer else {},
        "variant": variant, "backbone": backbone, "pretrained": False, "labels_per_class": labels, "seed": seed,
        "acc_last": acc_last, "acc_val": acc_last - 1.0, "acc_oracle": acc_last + 2.0, "val_acc_last": 90.0,
        "best_val_step": 40, "oracle_step": 50, "steps": 60, "wall_s": 12.5, "images_per_s": 300.0,
        "device": "cpu", "gpus": 0, "world_size": 1, "git_commit": "abc123", "config_hash": f"h{seed}{target}",
        **extra,
    }
    (run_dir / "result.json").write_text(json.dumps(result))
    if done:
        (run_dir / "done").write_text("")
    return run_dir
