"""Recipe ablation (issue 10): ERM and FixMatch under the old recipe and under each change alone.

For every named change (a set of training-key overrides over the old recipe, ``OLD_RECIPE``: the
training settings of config/grid.yaml and the trainer's defaults before issue 10, over the other
training keys of ``--base-config``), both methods train every LODO fold (all target domains, or
``--targets``) for every seed; the script prints a markdown table with, per change, the LODO
average of the target accuracy (last model) and of the source-validation accuracy (last model),
mean ± SE over seeds, the paired FixMatch - ERM difference ± SE, and the compute (images forwarded
per FixMatch fold, seconds summed over the change's folds). Finished folds are reused, so a killed
run resumes. The folds' underfitting warning (fixclr.results.underfit) follows the table. Folds that compute
the same thing (ERM under a change that only touches the unlabeled loss) are trained once.

Data: a prepared dataset (``--manifest`` and ``--split``, where ``{seed}`` in the split path is
replaced by the seed), or ``--family demo|shapes`` generated, ingested and split under ``--out``
(demo: digits-dg-mini, data_prep/demo.py; shapes: shapes-dg, data_prep/shapes.py, another content
and other styles).

    python benchmarks/recipe_ablation.py --family shapes --out /tmp/ablation --seeds 0,1,2 --jobs 2
    python benchmarks/recipe_ablation.py --manifest M --split 'splits/n10_s{seed}.json' --steps-scale 0.5
    python benchmarks/recipe_ablation.py --family demo --out /tmp/ablation --quick      # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from fixclr.config import DEFAULTS, config_hash, read_config_file, resolve
from fixclr.data import load_manifest
from fixclr.io import atomic_write_json

METHODS = ("erm", "fixmatch")
BASE = "old recipe"
# the recipe every change starts from: config/grid.yaml's training block and the trainer's defaults
# before issue 10 (explicit here, so that the study does not move with the defaults)
OLD_RECIPE = {"steps": 800, "batch_size": 16, "mu": 2, "unlabeled_warmup_fraction": 0.75,
              "weight_decay_norm_bias": True, "unlabeled_balanced": False, "cnn_stages": 3, "cnn_convs_per_stage": 2,
              "crop_padding": "reflect"}
# name -> overrides of the old recipe; each changes one thing (the last row: all of them together,
# the independent FixMatch's recipe as issue 10 describes it, and the defaults since issue 10)
CHANGES: dict[str, dict] = {
    BASE: {},
    "batch 32 mu 3": {"batch_size": 32, "mu": 3},
    "no warm-up": {"unlabeled_warmup_fraction": 0.0},
    "no wd on BN/bias": {"weight_decay_norm_bias": False},
    "balanced unlabeled": {"unlabeled_balanced": True},
    "4-block CNN": {"cnn_stages": 4, "cnn_convs_per_stage": 1},
    "replicate padding": {"crop_padding": "replicate"},
    "EMA eval": {"ema_decay": 0.999},
    "lr 0.05": {"lr": 0.05},
    "500 steps": {"steps": 500},
}
CHANGES["all changes but lr and EMA"] = {k: v for name, o in CHANGES.items() if name not in ("lr 0.05", "EMA eval")
                                          for k, v in o.items()}
UNLABELED_ONLY = ("mu", "unlabeled_warmup_fraction", "unlabeled_balanced", "threshold")  # no effect on ERM
QUICK = {"seeds": "0,1", "steps_scale": 0.025, "changes": [BASE, "no warm-up", "balanced unlabeled"], "targets": 2}


def slug(name: str) -> str:
    """A folder name for a change's name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def prepare_family(family: str, out: Path, seeds: list[int], labels_per_class: int) -> tuple[Path, str]:
    """Generate, ingest (32x32) and split a synthetic family under ``out``; (manifest, split pattern)."""
    from data_prep import demo, shapes
    from data_prep.cli import manifest_main, prep_main, splits_main

    dataset, generate = {"demo": ("digits-dg-mini", demo.generate), "shapes": ("shapes-dg", shapes.generate)}[family]
    root, shards = out / "data" / dataset, out / "shards" / dataset
    if not (shards / "manifest.json").is_file():
        generate(root, seed=0)
        for command, argv in ((prep_main, ["--root", str(root), "--dataset", dataset, "--out", str(shards),
                                           "--image-size", "32", "--no-progress"]),
                              (manifest_main, ["--out", str(shards)])):
            if command(argv) != 0:
                raise SystemExit(f"{command.__name__} failed")
    pattern = str(out / "splits" / dataset / f"n{labels_per_class}_s{{seed}}.json")
    for seed in seeds:
        split = Path(pattern.format(seed=seed))
        if not split.is_file() and splits_main(["--manifest", str(shards / "manifest.json"), "--seed", str(seed),
                                                "--labels-per-class", str(labels_per_class), "--out", str(split)]):
            raise SystemExit(f"splits for seed {seed} failed")
    return shards / "manifest.json", pattern


def fold_configs(base: dict, changes: list[str], manifest: Path, split_pattern: str, targets: list[str],
                 seeds: list[int], steps_scale: float, runs: Path) -> list[tuple[str, dict]]:
    """(change, partial fold config) of every fold of the study."""
    folds = []
    for change in changes:
        for method in METHODS:
            for target in targets:
                for seed in seeds:
                    cfg = {**base, **OLD_RECIPE, **CHANGES[change]}
                    steps = max(2, round(cfg.get("steps", DEFAULTS["steps"]) * steps_scale))
                    cfg.update(method=method, seed=seed, target_domain=target, manifest=str(manifest),
                               split=split_pattern.format(seed=seed), steps=steps, eval_every=max(1, steps // 8),
                               checkpoint_every=steps, threads=1, device="cpu",
                               out_dir=str(runs / slug(change) / method / target / f"s{seed}"))
                    folds.append((change, cfg))
    return folds


def computation(cfg: dict) -> str:
    """A fold's config hash, with the unlabeled-only keys at their defaults for a method that uses no
    unlabeled data: equal for folds that compute the same (ERM under an SSL-only change)."""
    from fixclr.methods import METHODS as REGISTRY

    cfg = resolve(cfg)
    if not REGISTRY.get(cfg["method"]).uses_unlabeled:
        cfg.update({key: DEFAULTS[key] for key in UNLABELED_ONLY})
    return config_hash(cfg)


def distinct_folds(folds: list[tuple[str, dict]]) -> dict[str, dict]:
    """Computation -> the first fold config that computes it."""
    unique: dict[str, dict] = {}
    for _, cfg in folds:
        unique.setdefault(computation(cfg), cfg)
    return unique


def train_fold(cfg: dict) -> dict:
    """Train one fold (its output to the run folder's train.log); result.json's content."""
    from fixclr.train import run_fold

    Path(cfg["out_dir"]).mkdir(parents=True, exist_ok=True)
    with open(Path(cfg["out_dir"]) / "train.log", "a") as log, contextlib.redirect_stdout(log):
        return run_fold(cfg)


def images_per_fold(cfg: dict) -> int:
    """Images forwarded by a fold: labeled batch, plus weak and strong unlabeled views for SSL."""
    from fixclr.methods import METHODS as REGISTRY

    cfg = resolve(cfg)
    return cfg["batch_size"] * (1 + 2 * cfg["mu"] * REGISTRY.get(cfg["method"]).uses_unlabeled) * cfg["steps"]


def mean_se(values: pd.Series) -> str:
    """``mean ± SE`` over seeds (SE = std / sqrt(n); one seed: the mean alone)."""
    values = values.dropna()
    if values.empty:
        return "–"
    if len(values) < 2:
        return f"{values.mean():.1f} (n=1)"
    return f"{values.mean():.1f} ± {values.std(ddof=1) / math.sqrt(len(values)):.1f}"


def _seed_series(lodo: pd.DataFrame, change: str, method: str, column: str) -> pd.Series:
    """One change and method's LODO averages per seed (empty when none is complete)."""
    key = (change, method)
    return lodo.loc[key, column] if key in lodo.index.droplevel("seed") else pd.Series(dtype=float)


def ablation_table(frame: pd.DataFrame, n_targets: int) -> str:
    """The markdown table of the study from one row per fold."""
    complete = frame.groupby(["change", "method", "seed"]).filter(lambda g: g["target"].nunique() == n_targets)
    lodo = complete.groupby(["change", "method", "seed"])[["acc_last", "val_acc_last"]].mean()
    lines = ["| change | ERM target | FixMatch target | Δ target (FM−ERM) | ERM src-val | FixMatch src-val "
             "| Δ src-val (FM−ERM) | images/FM fold | seconds |", "|" + "---|" * 9]
    for change, rows in frame.groupby("change", sort=False):
        cells = [change]
        for column in ("acc_last", "val_acc_last"):
            erm, fixmatch = (_seed_series(lodo, change, method, column) for method in METHODS)
            cells += [mean_se(erm), mean_se(fixmatch), mean_se(fixmatch - erm)]
        images = rows.loc[rows["method"] == "fixmatch", "images"]
        cells += [f"{int(images.max()):,}" if len(images) else "–", f"{rows['wall_s'].sum():.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data (a prepared dataset, or a generated family)")
    data.add_argument("--manifest", help="manifest.json of a prepared dataset")
    data.add_argument("--split", help="its split file; {seed} is replaced by the seed")
    data.add_argument("--family", choices=("demo", "shapes"), help="generate and prepare this family under --out")
    parser.add_argument("--out", required=True, help="folder of the generated data and of the folds (runs/)")
    parser.add_argument("--base-config", default="config/grid.yaml",
                        help="its training keys, under OLD_RECIPE and the changes (default: %(default)s)")
    parser.add_argument("--changes", help=f"comma-separated names among: {'; '.join(CHANGES)} (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--targets", help="comma-separated target domains (default: every domain)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every recipe's steps (default: 1)")
    parser.add_argument("--labels-per-class", type=int, default=10, help="with --family (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="folds trained at a time, one core each (default: 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: seeds {QUICK['seeds']}, steps x {QUICK['steps_scale']}, the first "
                             f"{QUICK['targets']} targets, changes: {', '.join(QUICK['changes'])}")
    args = parser.parse_args(argv)
    if bool(args.family) == bool(args.manifest and args.split):
        parser.error("give either --family, or --manifest and --split")
    if args.quick:
        args.seeds, args.steps_scale = QUICK["seeds"], QUICK["steps_scale"]
        args.changes = args.changes or ",".join(QUICK["changes"])
    changes = args.changes.split(",") if args.changes else list(CHANGES)
    unknown = [c for c in changes if c not in CHANGES]
    if unknown:
        parser.error(f"unknown change(s) {', '.join(unknown)}; known: {'; '.join(CHANGES)}")
    seeds, out = [int(s) for s in args.seeds.split(",")], Path(args.out)
    if args.family:
        manifest, split_pattern = prepare_family(args.family, out, seeds, args.labels_per_class)
    else:
        manifest, split_pattern = Path(args.manifest), args.split
    domains = sorted(load_manifest(manifest)["domains"])
    targets = args.targets.split(",") if args.targets else domains[:QUICK["targets"]] if args.quick else domains
    base = read_config_file(args.base_config)
    runs = out / "runs"
    folds = fold_configs(base, changes, manifest, split_pattern, targets, seeds, args.steps_scale, runs)
    unique = distinct_folds(folds)
    print(f"recipe ablation: {len(folds)} folds ({len(changes)} changes x {len(METHODS)} methods x "
          f"{len(targets)} targets x {len(seeds)} seeds; {len(unique)} distinct, the others reuse a fold of the same "
          f"computation), {args.jobs} at a time, into {runs}", file=sys.stderr)
    started, results = time.perf_counter(), {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for done, (key, result) in enumerate(zip(unique, pool.map(train_fold, unique.values())), 1):
            results[key] = result
            print(f"[{done}/{len(unique)}] {unique[key]['out_dir']}: target {result['acc_last']:.1f}, "
                  f"src-val {result['val_acc_last']:.1f} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    rows = [{"change": change, "method": cfg["method"], "target": cfg["target_domain"], "seed": cfg["seed"],
             "acc_last": result["acc_last"], "val_acc_last": result["val_acc_last"], "wall_s": result["wall_s"],
             "images": images_per_fold(cfg)} for change, cfg in folds for result in [results[computation(cfg)]]]
    frame = pd.DataFrame(rows)
    atomic_write_json(out / "ablation.json", rows)
    scale = (f"{manifest.parent.name}, targets {','.join(targets)}, seeds {args.seeds}, steps x {args.steps_scale:g} "
             f"(base {args.base_config})")
    print(f"Recipe ablation on {scale}. LODO average over the targets of the last model's accuracy (%), "
          f"mean ± SE over seeds; Δ paired by seed.\n")
    print(ablation_table(frame, len(targets)))
    from fixclr.results.underfit import runs_underfit_signs, warning_lines

    for line in warning_lines(runs_underfit_signs(runs), sum(1 for _ in runs.rglob("done"))):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
