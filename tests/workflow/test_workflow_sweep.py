"""fixclr.sweep: configs load with defaults, expand into LODO folds, and fail at load time naming the key."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from fixclr import config as train_config
from fixclr.sweep import SweepConfigError, expand_folds, load_sweep, write_fold_spec

from workflow_helpers import DEMO_CONFIG, MULTI_CONFIG, TINY_CONFIG


@pytest.fixture
def demo() -> dict:
    return yaml.safe_load(DEMO_CONFIG.read_text())


def load_error(config: dict) -> str:
    with pytest.raises(SweepConfigError) as error:
        load_sweep(config)
    return str(error.value)


def test_demo_config_is_36_lodo_folds_in_config_order():
    folds = expand_folds(load_sweep(DEMO_CONFIG))
    assert len(folds) == 3 * 4 * 3
    assert [str(f.run_dir) for f in folds[:5]] == [
        "results/runs/digits-dg-mini/cnn/erm/mono/n10/s0", "results/runs/digits-dg-mini/cnn/erm/color/n10/s0",
        "results/runs/digits-dg-mini/cnn/erm/photo/n10/s0", "results/runs/digits-dg-mini/cnn/erm/rotated/n10/s0",
        "results/runs/digits-dg-mini/cnn/erm/mono/n10/s1",
    ]
    variants = {f.run_dir.parts[-4] for f in folds}
    assert variants == {"erm", "fixmatch", "fixmatch+fixclr"}
    assert len({f.run_dir for f in folds}) == len(folds)


def test_fold_spec_is_a_trainer_config_and_a_launch_section(tmp_path):
    sweep = load_sweep({**yaml.safe_load(TINY_CONFIG.read_text()), "results_dir": str(tmp_path)})
    fold = next(f for f in expand_folds(sweep) if f.spec["train"]["regularizer"] == "fixclr")
    train = fold.spec["train"]
    assert train["out_dir"] == str(fold.run_dir)
    assert train["split"] == f"{tmp_path}/splits/digits-dg-mini/n5_s0.json"
    assert train["manifest"] == f"{tmp_path}/shards/digits-dg-mini/manifest.json"
    assert (train["method"], train["target_domain"], train["steps"]) == ("fixmatch", "mono", 4)
    assert fold.spec["launch"]["cluster"] == "local"
    assert fold.spec["launch"]["submitit_folder"] == f"{tmp_path}/submitit"
    path = write_fold_spec(fold)
    resolved = train_config.load(path)  # what `fixclr train --config fold.yaml` reads
    assert resolved["out_dir"] == str(fold.run_dir) and resolved["regularizer"] == "fixclr"


def test_identical_fold_spec_is_left_untouched(tmp_path):
    sweep = load_sweep({**yaml.safe_load(TINY_CONFIG.read_text()), "results_dir": str(tmp_path)})
    fold = expand_folds(sweep)[0]
    path = write_fold_spec(fold)
    before = path.stat().st_mtime_ns
    assert write_fold_spec(fold) == path and path.stat().st_mtime_ns == before
    changed = type(fold)(fold.run_dir, {**fold.spec, "train": {**fold.spec["train"], "steps": 5}})
    write_fold_spec(changed)
    assert yaml.safe_load(path.read_text())["train"]["steps"] == 5
    assert [p.name for p in path.parent.iterdir()] == ["fold.yaml"]  # no temporary left behind


def test_multi_dataset_config_uses_presets_and_target_subsets():
    folds = expand_folds(load_sweep(MULTI_CONFIG))
    pacs = [f for f in folds if f.spec["train"]["dataset"] == "PACS"]
    assert {f.spec["train"]["target_domain"] for f in pacs} == {"art_painting", "sketch"}
    assert len(folds) == (4 + 2) * 2 * 2


def test_schema_defaults_are_filled_in(demo):
    sweep = load_sweep(demo)
    assert sweep["data"]["val_fraction"] == 0.1
    assert sweep["launch"]["max_timeouts"] == 3 and sweep["launch"]["extra_sbatch"] == []
    assert sweep["datasets"]["digits-dg-mini"]["skip_bad"] is False
    assert sweep["weights_dir"] == "results/weights"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["sweep"].update(seedz=[0]), "sweep: Additional properties are not allowed ('seedz'"),
        (lambda c: c.update(clustre="slurm"), "Additional properties are not allowed ('clustre'"),
        (lambda c: c["sweep"].update(seeds="0"), "sweep.seeds: '0' is not of type 'array'"),
        (lambda c: c.update(cluster="pbs"), "cluster: 'pbs' is not one of ['local', 'slurm']"),
        (lambda c: c["sweep"]["variants"].append({"method": "fixmach"}),
         "sweep.variants[3] (fixmach): config key 'method': unknown SSL method 'fixmach'"),
        (lambda c: c["datasets"]["digits-dg-mini"].update(targets=["mono", "sketch"]),
         "datasets.digits-dg-mini.targets: unknown domain 'sketch'; digits-dg-mini has mono, color, photo, rotated"),
        (lambda c: c["train"].update(stpes=10), "unknown config key 'stpes'"),
        (lambda c: c["fixclr"].update(lamda=0.5), "unknown config key 'fixclr.lamda'"),
        (lambda c: c["sweep"].update(backbones=["resnet34"]), "config key 'backbone' must be one of"),
        (lambda c: c["datasets"].update(mine={"demo": False}), "datasets.mine.root: required unless demo"),
        (lambda c: c["datasets"].update(mine={"root": "/x", "preset": "PAKS"}),
         "datasets.mine.preset: unknown preset 'PAKS'"),
        (lambda c: c.update(launch_file="no/such/launch.yaml"), "launch_file: no such file"),
    ],
)
def test_config_mistakes_fail_at_load_time_naming_the_key(demo, change, named):
    config = copy.deepcopy(demo)
    change(config)
    assert named in load_error(config)


def test_label_budget_larger_than_a_class_fails_with_the_manifest(demo, prepared_demo, tmp_path):
    shards = tmp_path / "shards" / "digits-dg-mini"
    shards.mkdir(parents=True)
    shutil.copy(prepared_demo.manifest, shards / "manifest.json")
    demo["results_dir"] = str(tmp_path)
    load_sweep(demo)  # 10 labels per class fit
    demo["sweep"]["labels_per_class"] = [10, 60]
    message = load_error(demo)
    assert "sweep.labels_per_class: 60 labels per class is larger than class" in message
    assert f"manifest {shards / 'manifest.json'}" in message and "10 labels" not in message


def test_launch_file_settings_sit_under_the_configs_own(demo, tmp_path):
    launch_file = tmp_path / "launch.yaml"
    launch_file.write_text("partition: gpu\naccount: proj\ncpus_per_task: 8\n")
    sweep = load_sweep({**demo, "launch_file": str(launch_file)})
    launch = expand_folds(sweep)[0].spec["launch"]
    assert (launch["partition"], launch["account"]) == ("gpu", "proj")
    assert launch["cpus_per_task"] == 1  # config/config.yaml's own launch block wins


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(SweepConfigError, match="no_such.yaml: no such sweep config file"):
        load_sweep(tmp_path / "no_such.yaml")


def test_variants_sharing_a_folder_name_are_refused_until_tagged(demo):
    demo["sweep"]["variants"].append({"method": "fixmatch", "train": {"steps": 400}})
    assert ("sweep.variants[3] and sweep.variants[1] both have the run folders of variant 'fixmatch': "
            "give one of them a distinct tag:") in load_error(demo)
    demo["sweep"]["variants"][3]["tag"] = "steps=400"
    folds = expand_folds(load_sweep(demo))
    assert len({f.run_dir for f in folds}) == len(folds) == 4 * 4 * 3
    assert {f.spec["train"]["steps"] for f in folds if f.run_dir.parts[-4] == "fixmatch-steps=400"} == {400}


@pytest.mark.parametrize("name", ["config", "grid", "ablation", "many_domains", "multi"])
def test_shipped_configs_plan_one_run_folder_per_fold(name):
    folds = expand_folds(load_sweep(DEMO_CONFIG.parent / f"{name}.yaml"))
    assert len({f.run_dir for f in folds}) == len(folds)


def test_the_slurm_profiles_launch_file_is_found_in_the_working_directory_first(tmp_path, monkeypatch):
    """Under the SLURM executor the workflow merges ./slurm/launch.yaml (the profile `--profile slurm`
    finds) of the working directory, else the one next to the main Snakefile (a checkout's)."""
    from fixclr.workflow import profile_launch_file

    checkout, workdir = tmp_path / "checkout", tmp_path / "work"
    (checkout / "slurm").mkdir(parents=True)
    (checkout / "slurm" / "launch.yaml").write_text("partition: gpu\n")
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert profile_launch_file(str(checkout)) == str(checkout / "slurm" / "launch.yaml")
    (workdir / "slurm").mkdir()
    (workdir / "slurm" / "launch.yaml").write_text("partition: a100\n")
    assert profile_launch_file(str(checkout)) == str(workdir / "slurm" / "launch.yaml")
    assert profile_launch_file(str(tmp_path / "no-profile")) == str(workdir / "slurm" / "launch.yaml")
    (workdir / "slurm" / "launch.yaml").unlink()
    assert profile_launch_file(str(tmp_path / "no-profile")) is None
