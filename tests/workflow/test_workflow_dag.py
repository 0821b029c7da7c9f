"""The Snakemake DAG: dry runs list the expected jobs, the linter and snakefmt are clean, the slurm profile resolves."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from workflow_helpers import DEMO_CONFIG, MULTI_CONFIG, REPO, SNAKEMAKE, TINY_CONFIG, job_counts, snakemake


def test_dry_run_of_the_demo_config_lists_every_job(tmp_path):
    run = snakemake(tmp_path, "-n", configfile=DEMO_CONFIG)
    assert run.returncode == 0, run.stderr
    assert job_counts(run.stdout) == {
        "demo_data": 1, "ingest": 4, "manifest": 1, "verify": 1, "splits": 3,  # one ingest job per domain, a split per seed
        "fold_spec": 36, "train": 36,  # 3 variants x 4 targets x 3 seeds
        "aggregate": 1, "report": 1, "all": 1,
    }
    assert not list(tmp_path.glob("results"))  # a dry run writes no artefact


def test_dry_run_of_the_multi_dataset_config(tmp_path):
    run = snakemake(tmp_path, "-n", "--printshellcmds", configfile=MULTI_CONFIG)
    assert run.returncode == 0, run.stderr
    assert job_counts(run.stdout) == {
        "demo_data": 1, "ingest": 8, "manifest": 2, "verify": 2, "splits": 4,  # 2 datasets x 2 seeds
        "fold_spec": 24, "train": 24,  # (4 demo + 2 PACS targets) x 2 variants x 2 seeds
        "aggregate": 1, "report": 1, "all": 1,
    }
    assert ("fixclr prep --root /data/PACS/kfold --dataset PACS --out results/shards/PACS --domain sketch"
            " --image-size 224x224") in run.stdout
    assert "--preset PACS" in run.stdout
    assert ("cluster/await_fold.sh results/runs/PACS/resnet18/fixmatch+fixclr/art_painting/n10/s1/fold.yaml "
            "results/submitit 10") in run.stdout


def test_lint_has_no_findings():
    run = subprocess.run([str(SNAKEMAKE), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations, your workflow is in a good condition!" in run.stdout + run.stderr
    assert "Lints for" not in run.stdout + run.stderr


def test_snakefmt_finds_the_snakefiles_formatted():
    """The root Snakefile and the packaged workflow (Snakefile, rules/*.smk) pass `snakefmt --check`
    with the project's settings ([tool.snakefmt] in pyproject.toml)."""
    snakefmt = SNAKEMAKE.with_name("snakefmt")
    run = subprocess.run([str(snakefmt), "--check", "Snakefile", "fixclr/workflow"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "All 6 file(s) would be left unchanged" in run.stderr


def test_a_config_mistake_stops_snakemake_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sweep"]["variants"].append({"method": "fixmatch", "regularizer": "fixclr", "fixclr": {"lamda": 1}})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "-n", configfile=tmp_path / "bad.yaml")
    assert run.returncode != 0
    assert "unknown config key 'fixclr.lamda' in sweep.variants[2] (fixmatch+fixclr)" in run.stdout + run.stderr


def test_slurm_profile_resolves_from_the_repository_root_and_sends_folds_to_slurm(tmp_path):
    """`--profile slurm` from the root, with a `--config` on the command line too (it replaces a
    profile's config list, so where folds train may not come from there): the local fold_spec
    rule writes the fold for SLURM with the profile's launch.yaml merged in.

    Only a local rule runs, so no SLURM job is submitted (this needs no cluster)."""
    target = "elsewhere/runs/digits-dg-mini/cnn/erm/mono/n5/s0/fold.yaml"
    command = [str(SNAKEMAKE), target, "--profile", "slurm", "--directory", str(tmp_path),
               "--configfile", str(TINY_CONFIG), "--config", "results_dir=elsewhere",
               "--slurm-init-seconds-before-status-checks", "1"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    spec = yaml.safe_load((tmp_path / target).read_text())
    assert spec["launch"]["cluster"] == "slurm"
    assert spec["launch"]["poll_s"] == 1  # the sweep's own launch block
    assert spec["launch"]["submitit_folder"] == "elsewhere/submitit"
    profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["jobs"] >= 1000 and profile["cores"] >= profile["jobs"]


def test_pretrained_folds_wait_for_the_weights_download(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sweep"].update(backbones=["resnet18"], pretrained=[False, True])
    (tmp_path / "pretrained.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "-n", "--printshellcmds", configfile=tmp_path / "pretrained.yaml")
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert (counts["weights"], counts["train"]) == (1, 8)  # one download (a local rule) for 4 pretrained folds
    assert "fixclr weights --backbone resnet18 --out results/weights/resnet18.pth" in run.stdout
    assert "results/runs/digits-dg-mini/resnet18-pt/erm/mono/n5/s0/fold.yaml" in run.stdout


def test_dry_run_and_fold_status_do_not_import_torch(tmp_path):
    """Loading the Snakefile (on the login node, and again in every CPU job on a compute node) and
    `fixclr status` stay light: with a `torch` that cannot be imported first on the path, both work."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch may not be imported here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(REPO)])}
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--configfile", str(TINY_CONFIG),
               "--directory", str(tmp_path), "-n"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert job_counts(run.stdout)["train"] == 4
    status = subprocess.run([sys.executable, "-m", "fixclr.cli", "status", "--sweep", str(TINY_CONFIG)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert status.returncode == 0, status.stderr
    assert "4 folds: 0 done, 0 running, 0 pending, 0 failed, 4 not started" in status.stdout
