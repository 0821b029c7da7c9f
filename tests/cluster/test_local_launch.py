"""``cluster: local``: a fold trains as a real local process with the same run folder and markers;
a second launch of a done fold does nothing. Plus the launcher's strict input checks."""

from __future__ import annotations

import json

import pytest
import yaml

from cluster.folds import FoldSpecError, read_fold
from cluster.launcher import extra_sbatch_parameters, submit
from cluster.slurm import _expand_ids
from cluster_helpers import attempts


@pytest.mark.timeout(300)
def test_local_fold_trains_in_a_subprocess_then_relaunch_is_a_no_op(make_fold, capsys):
    fold_yaml = make_fold("local", cluster="local")
    run_dir = fold_yaml.parent

    assert submit([fold_yaml], wait=True) == 0

    for name in ("config.yaml", "metrics.jsonl", "result.json", "done", "launch.json"):
        assert (run_dir / name).exists(), name
    (attempt,) = attempts(run_dir)
    assert attempt["cluster"] == "local" and attempt["log"] == str(run_dir / "train.log")
    assert "step 8/8" in (run_dir / "train.log").read_text()
    first_result = (run_dir / "result.json").read_text()
    assert json.loads(first_result)["steps"] == 8

    capsys.readouterr()
    assert submit([fold_yaml], wait=True) == 0
    assert "done: " in capsys.readouterr().out
    assert len(attempts(run_dir)) == 1  # nothing was started
    assert (run_dir / "result.json").read_text() == first_result


def test_fold_spec_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({"train": {"out_dir": str(tmp_path)},
                                    "launch": {"cluster": "slurm", "gpus": 2}}))
    with pytest.raises(FoldSpecError, match=r"fold.yaml: invalid launch settings:\n.*launch.*'gpus'"):
        read_fold(path)
    path.write_text(yaml.safe_dump({"train": {"out_dir": str(tmp_path)}, "launch": {"cluster": "pbs"}}))
    with pytest.raises(FoldSpecError, match=r"launch.cluster: 'pbs' is not one of \['local', 'slurm'\]"):
        read_fold(path)
    path.write_text(yaml.safe_dump({"train": {}, "launch": {}}))
    with pytest.raises(FoldSpecError, match=r"train.out_dir: required"):
        read_fold(path)
    path.write_text(yaml.safe_dump({"train": {"out_dir": "x"},
                                    "launch": {"gpus_per_node": 4, "tasks_per_node": 2}}))
    with pytest.raises(FoldSpecError, match=r"launch.tasks_per_node: 2 tasks with 4 GPUs per node"):
        read_fold(path)


def test_launch_defaults_come_from_the_sweep_schema(tmp_path):
    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({"train": {"out_dir": str(tmp_path / "run")}}))
    launch = read_fold(path).launch
    assert launch["cluster"] == "local" and launch["nodes"] == 1 and launch["extra_sbatch"] == []
    assert launch["max_timeouts"] == 3 and launch["poll_s"] == 10


def test_extra_sbatch_lines_become_submitit_parameters():
    assert extra_sbatch_parameters(["--mail-type=FAIL", "#SBATCH --exclusive"], "f") == {
        "mail-type": "FAIL", "exclusive": True}
    with pytest.raises(ValueError, match=r"f: launch.extra_sbatch\[0\]: '-p gpu'"):
        extra_sbatch_parameters(["-p gpu"], "f")


def test_pending_array_ids_expand_to_their_tasks():
    assert _expand_ids("12_[0-2,5%4]") == ["12_0", "12_1", "12_2", "12_5"]
    assert _expand_ids("12_3") == ["12_3"] and _expand_ids("13") == ["13"]


def test_a_fold_planned_for_slurm_refuses_to_train_outside_a_slurm_job(tmp_path, monkeypatch, capsys):
    from fixclr.cli import main as fixclr_main

    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({"train": {"out_dir": str(tmp_path / "run")}, "launch": {"cluster": "slurm"}}))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert fixclr_main(["train", "--config", str(path)]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error == (f"fixclr train: error: {path}: launch.cluster is slurm but this is not a SLURM job "
                     f"(no SLURM_JOB_ID): launch it with `fixclr submit {path}`")
    assert not (tmp_path / "run").exists()


def test_a_local_fold_is_refused_under_snakemakes_slurm_executor(tmp_path, monkeypatch):
    from cluster.launcher import SubmissionError
    from fixclr.sweep import SLURM_LAUNCH_ENV

    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({"train": {"out_dir": str(tmp_path / "run")}, "launch": {"cluster": "local"}}))
    monkeypatch.setenv(SLURM_LAUNCH_ENV, json.dumps({"cluster": "slurm"}))
    with pytest.raises(SubmissionError, match=r"fold.yaml: launch.cluster is local, but Snakemake runs with the SLURM"):
        submit([path])
    assert not (tmp_path / "run" / "launch.json").exists()
