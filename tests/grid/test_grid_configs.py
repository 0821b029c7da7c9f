"""The grid, ablation and many-domains sweeps: dry runs list every job, and each fold gets its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import REPO, job_counts, snakemake

from fixclr.config import DEFAULTS
from fixclr.sweep import expand_folds, load_sweep

CONFIGS = REPO / "config"
ABLATION_CHANGES = {
    "fixmatch+fixclr-attract": {"attract": True},
    "fixmatch+fixclr-negatives=instance": {"negatives": "instance"},
    "fixmatch+fixclr-embedding=features": {"embedding": "features"},
    "fixmatch+fixclr-views=strong": {"views": "strong"},
    "fixmatch+fixclr-lambda=0.05": {"lambda": 0.05},
    "fixmatch+fixclr-lambda=0.3": {"lambda": 0.3},
    "fixmatch+fixclr-temperature=0.2": {"temperature": 0.2},
    "fixmatch+fixclr-temperature=1.0": {"temperature": 1.0},
}


def _variants(folds) -> list[str]:
    return list(dict.fromkeys(fold.spec["train"]["variant"] for fold in folds))


@pytest.mark.parametrize("name", ["config", "grid", "ablation", "many_domains", "search", "multi"])
def test_each_fold_yaml_names_its_variant_the_folder_has_and_the_hash_ignores_it(name):
    """The variant is decided at planning: train.variant in fold.yaml is the run folder's variant level
    (above t<trial> in a search), and, a runtime key, it leaves the config hash as it was without it."""
    from fixclr import config

    sweep = load_sweep(CONFIGS / f"{name}.yaml")
    folds = expand_folds(sweep)
    for fold in folds:
        below = fold.run_dir.relative_to(Path(sweep["results_dir"], "runs")).parts  # dataset/backbone/variant/...
        assert fold.spec["train"]["variant"] == below[2], fold.run_dir
    train = folds[-1].spec["train"]
    without = {key: value for key, value in train.items() if key != "variant"}
    assert config.config_hash(config.resolve(train)) == config.config_hash(config.resolve(without))


@pytest.mark.parametrize(("name", "domains", "folds"), [
    ("grid", 4, 168),  # 14 variants x 4 targets x 3 seeds
    ("ablation", 4, 96),  # 8 variants x 4 targets x 3 seeds (the reference rows are the grid's)
    ("many_domains", 6, 54),  # 3 variants x 6 targets x 3 seeds
    ("search", 4, 192),  # 6 variants x 4 trials x 4 targets x 2 seeds
])
def test_dry_run_lists_every_job(tmp_path, name, domains, folds):
    run = snakemake(tmp_path, "-n", "--printshellcmds", configfile=CONFIGS / f"{name}.yaml")
    assert run.returncode == 0, run.stderr
    assert job_counts(run.stdout) == {
        "demo_data": 1, "ingest": domains, "manifest": 1, "splits": len(load_sweep(CONFIGS / f"{name}.yaml")["sweep"]["seeds"]),
        "verify": 1, "fold_spec": folds, "train": folds, "aggregate": 1, "report": 1, "all": 1,
    }
    assert f"results/{name}/tables/folds.parquet" in run.stdout
    assert not list(tmp_path.glob("results"))


def test_grid_crosses_every_method_with_fixclr():
    folds = expand_folds(load_sweep(CONFIGS / "grid.yaml"))
    methods = ["erm", "fixmatch", "flexmatch", "freematch", "softmatch", "defixmatch", "debiaspl"]
    assert _variants(folds) == [name for method in methods for name in (method, f"{method}+fixclr")]
    assert {fold.spec["train"]["labels_per_class"] for fold in folds} == {10}
    assert {fold.spec["train"]["seed"] for fold in folds} == {0, 1, 2}
    assert {fold.spec["train"]["target_domain"] for fold in folds} == {"mono", "color", "photo", "rotated"}


def test_each_ablation_variant_changes_one_fixclr_setting():
    folds = expand_folds(load_sweep(CONFIGS / "ablation.yaml"))
    assert _variants(folds) == list(ABLATION_CHANGES)
    for fold in folds:
        train, variant = fold.spec["train"], fold.run_dir.parts[-4]
        assert train["method"] == "fixmatch" and train["regularizer"] == "fixclr"
        settings = {**DEFAULTS["fixclr"], **train.get("fixclr", {})}
        changed = {key: value for key, value in settings.items() if value != DEFAULTS["fixclr"][key]}
        assert changed == ABLATION_CHANGES[variant], variant


def test_many_domains_generates_the_six_domain_demo(tmp_path):
    run = snakemake(tmp_path, "-n", "--printshellcmds", configfile=CONFIGS / "many_domains.yaml")
    assert run.returncode == 0, run.stderr
    assert ("fixclr demo-data --out results/many_domains/data/digits-dg-mini6 --seed 0"
            " --domains mono,color,photo,rotated,outline,noisy") in run.stdout
    folds = expand_folds(load_sweep(CONFIGS / "many_domains.yaml"))
    assert _variants(folds) == ["erm", "fixmatch", "fixmatch+fixclr"]
    assert {fold.spec["train"]["target_domain"] for fold in folds} == {
        "mono", "color", "photo", "rotated", "outline", "noisy"}


def test_ablation_differs_from_the_grids_reference_folds_only_in_fixclr_settings():
    """The page takes the ablation's reference rows from the grid: the settings must be the same
    (each sweep generates the same demo data and splits under its own results_dir)."""
    ignored = {"fixclr", "out_dir", "variant"}

    def shared(fold) -> dict:
        train = {key: value for key, value in fold.spec["train"].items() if key not in ignored}
        return {key: value.split("/", 2)[2] if key in ("manifest", "split") else value for key, value in train.items()}

    grid = {(f.spec["train"]["target_domain"], f.spec["train"]["seed"]): f
            for f in expand_folds(load_sweep(CONFIGS / "grid.yaml")) if f.run_dir.parts[-4] == "fixmatch+fixclr"}
    ablation = expand_folds(load_sweep(CONFIGS / "ablation.yaml"))
    for fold in ablation:
        reference = grid[(fold.spec["train"]["target_domain"], fold.spec["train"]["seed"])]
        assert shared(fold) == shared(reference)
        resources = {key: value for key, value in fold.spec["launch"].items() if key != "submitit_folder"}
        assert resources == {key: reference.spec["launch"][key] for key in resources}
