"""benchmarks/recipe_ablation.py: its table from known fold rows, folds of one computation trained once,
and the shapes-dg family it can generate."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd

from data_prep import shapes

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "recipe_ablation.py"


def _runner():
    spec = importlib.util.spec_from_file_location("recipe_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_is_lodo_mean_and_se_over_seeds_and_the_paired_difference():
    runner = _runner()
    rows = []
    # ERM: seed averages 40 and 42; FixMatch: 50 and 56 -> paired d = 10, 14: 12.0 ± 2.0
    for seed, (erm, fixmatch) in enumerate([(40.0, 50.0), (42.0, 56.0)]):
        for target, offset in (("a", -1.0), ("b", 1.0)):
            for method, acc in (("erm", erm), ("fixmatch", fixmatch)):
                rows.append({"change": "old recipe", "method": method, "target": target, "seed": seed,
                             "acc_last": acc + offset, "val_acc_last": 80.0 + seed, "wall_s": 10.0,
                             "images": 1000 if method == "erm" else 5000})
    rows.append({**rows[-1], "change": "partial", "seed": 0})  # one target only: no complete seed
    table = runner.ablation_table(pd.DataFrame(rows), n_targets=2)
    assert ("| old recipe | 41.0 ± 1.0 | 53.0 ± 3.0 | 12.0 ± 2.0 | 80.5 ± 0.5 | 80.5 ± 0.5 | 0.0 ± 0.0 "
            "| 5,000 | 80 |") in table
    assert "| partial | – | – | – | – | – | – | 5,000 | 10 |" in table


def test_erm_under_an_unlabeled_only_change_is_one_computation(tmp_path):
    runner = _runner()
    base = {"steps": 100, "unlabeled_warmup_fraction": 0.0, "eval_every": 7}  # both under the old recipe
    folds = runner.fold_configs(base, ["old recipe", "no warm-up", "4-block CNN"], Path("m.json"), "s{seed}.json",
                                ["a"], [0], 0.5, tmp_path)
    assert len(folds) == 6 and len(runner.distinct_folds(folds)) == 5  # erm: no warm-up == old recipe
    old = folds[0][1]
    assert old["split"] == "s0.json" and (old["steps"], old["eval_every"]) == (400, 50)
    assert old["unlabeled_warmup_fraction"] == 0.75 and old["cnn_stages"] == 3


def test_shapes_family_layout_and_determinism(tmp_path):
    def digest(root: Path) -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*.png")))).hexdigest()

    root = shapes.generate(tmp_path / "a", seed=1, per_class=2)
    assert sorted(p.name for p in root.iterdir()) == sorted(shapes.STYLES)
    assert sorted(p.name for p in (root / "sketch").iterdir()) == sorted(shapes.SHAPES)
    assert len(list(root.rglob("*.png"))) == 4 * 10 * 2
    assert digest(root) == digest(shapes.generate(tmp_path / "b", seed=1, per_class=2))
    assert digest(root) != digest(shapes.generate(tmp_path / "c", seed=2, per_class=2))
