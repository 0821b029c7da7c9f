"""A pretrained sweep end to end without internet: the sweep's fold.yaml points at the weights file
that the workflow's `weights` rule writes, and the trainer starts from exactly that file.

Nothing can be downloaded here, so the test writes the file itself: a torchvision ResNet-18 state
dict with random values, as `fixclr weights --backbone resnet18 --out FILE` would save it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from fixclr import config as fold_config
from fixclr.sweep import Fold, expand_folds, load_sweep, weights_path, write_fold_spec
from fixclr.train import run_fold

FIXCLR = Path(sys.executable).parent / "fixclr"
TWO_STEPS = ["steps=2", "batch_size=8", "mu=1", "eval_every=2", "checkpoint_every=1", "threads=1",
             "eval_batch_size=512"]


@pytest.fixture
def pretrained_fold(prepared_demo, tmp_path) -> Path:
    """fold.yaml of a resnet18 pretrained FixMatch+FixCLR fold of a sweep over the prepared demo."""
    sweep = load_sweep({
        "results_dir": str(prepared_demo.shards_dir.parents[1]),  # where prepared_demo put shards and splits
        "weights_dir": str(tmp_path / "weights"),
        "datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32], "targets": ["mono"]}},
        "sweep": {"variants": [{"method": "fixmatch", "regularizer": "fixclr"}], "backbones": ["resnet18"],
                  "pretrained": [False, True], "seeds": [0]},
    })
    folds = expand_folds(sweep)
    assert [fold.spec["train"]["pretrained"] for fold in folds] == [False, True]
    assert folds[1].run_dir.parts[-5:-3] == ("resnet18-pt", "fixmatch+fixclr")
    spec = folds[1].spec["train"]
    assert spec["weights"] == str(weights_path(sweep, "resnet18")) == str(tmp_path / "weights" / "resnet18.pth")
    return write_fold_spec(Fold(run_dir=tmp_path / "spec", spec=folds[1].spec))


def test_pretrained_fold_starts_from_the_weights_file(pretrained_fold, tmp_path):
    """With lr=0 two real training steps leave every learned weight where it started, so the
    step-1 checkpoint shows the start; BatchNorm statistics did move (the model was trained)."""
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for tensor in reference.state_dict().values():
            if tensor.is_floating_point():
                tensor.normal_(0.0, 0.05)  # neither torchvision's nor the trainer's initialisation
    weights = tmp_path / "weights" / "resnet18.pth"
    weights.parent.mkdir()
    torch.save(reference.state_dict(), weights)
    cfg = fold_config.load(pretrained_fold, [*TWO_STEPS, "lr=0.0", f"out_dir={tmp_path / 'run'}"])
    result = run_fold(cfg)
    assert (result["backbone"], result["pretrained"], result["steps"]) == ("resnet18", True, 2)
    model = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["trainer"]["model"]
    expected = reference.state_dict()
    for name, parameter in reference.named_parameters():
        if not name.startswith("fc."):
            assert torch.equal(model[f"backbone.net.{name}"], parameter), name
    assert not any(key.startswith("backbone.net.fc") for key in model)  # ImageNet classifier dropped
    assert model["backbone.net.bn1.num_batches_tracked"] == 1
    assert not torch.equal(model["backbone.net.bn1.running_mean"], expected["bn1.running_mean"])


def test_missing_weights_file_names_the_weights_command(pretrained_fold, tmp_path):
    run = subprocess.run([str(FIXCLR), "train", "--config", str(pretrained_fold), *TWO_STEPS,
                          f"out_dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    expected = f"fixclr weights --backbone resnet18 --out {tmp_path / 'weights' / 'resnet18.pth'}"
    assert expected in run.stderr and "fixclr train: error: pretrained weights for resnet18 not found" in run.stderr
    assert not (tmp_path / "run" / "done").exists()
