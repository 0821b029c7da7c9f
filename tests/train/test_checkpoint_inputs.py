"""A checkpoint is bound to the content of its inputs: after the split file changes, the fold
starts over from step 0 (saying why) and nothing of the old run is reused."""

from __future__ import annotations

import json
import shutil

from fixclr.train import run_fold

TIMING_KEYS = {"images_per_s"}


def _steps_and_accuracies(out) -> list[tuple]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(line["step"], line["target_acc"], line["loss"]) for line in lines]


def _forget_the_end(out) -> None:
    """What Snakemake does before it reruns a fold: remove its outputs (the checkpoint stays)."""
    (out / "done").unlink()
    (out / "result.json").unlink()


def test_changed_split_restarts_from_step_0_and_unchanged_resumes(fold_cfg, tmp_path, capsys):
    split = tmp_path / "split.json"
    shutil.copy(fold_cfg["split"], split)
    cfg = {**fold_cfg, "split": str(split), "steps": 6, "eval_every": 3, "checkpoint_every": 3}
    out = tmp_path / "run"
    run_fold(cfg)
    first = _steps_and_accuracies(out)
    assert [step for step, *_ in first] == [3, 6]

    _forget_the_end(out)
    capsys.readouterr()
    run_fold(cfg)
    assert "resuming from step 3" in capsys.readouterr().out
    assert _steps_and_accuracies(out) == first

    _forget_the_end(out)
    old_text = split.read_text()
    split.write_text(json.dumps(json.loads(old_text), indent=1))  # same split, other bytes
    capsys.readouterr()
    run_fold(cfg)
    log = capsys.readouterr().out
    assert "resuming" not in log
    (line,) = [line for line in log.splitlines() if line.startswith("inputs changed")]
    assert line.startswith("inputs changed since the checkpoint: split sha256 ")
    assert line.endswith("; starting from step 0") and "manifest" not in line
    assert _steps_and_accuracies(out) == first  # trained all 6 steps again: the same run from step 0
    assert json.loads((out / "result.json").read_text())["steps"] == 6
