"""timm:<model> backbones offline: `fixclr weights` writes the file, a sweep's fold loads only that file.

No download is possible here: the test writes a timm checkpoint itself (random values) and hands
it to `fixclr weights --source`, which takes the place of the Hugging Face hub on a login node.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fixclr import config as fold_config
from fixclr.models import build_backbone
from fixclr.models.weights import main as weights_main
from fixclr.sweep import Fold, expand_folds, load_sweep, weights_path, write_fold_spec
from fixclr.train import run_fold

timm = pytest.importorskip("timm")
TWO_STEPS = ["steps=2", "batch_size=8", "mu=1", "eval_every=2", "checkpoint_every=1", "threads=1",
             "eval_batch_size=512", "lr=0.0"]


def _random_timm_checkpoint(model: str, path: Path) -> dict:
    """A full timm state dict (classifier included) with values no initialiser would give."""
    state = timm.create_model(model).state_dict()
    with torch.no_grad():
        for tensor in state.values():
            if tensor.is_floating_point():
                tensor.normal_(0.0, 0.05)
    torch.save(state, path)
    return state


def test_weights_command_then_a_sweep_fold_loads_exactly_that_file(prepared_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sweep = load_sweep({
        "results_dir": str(prepared_demo.shards_dir.parents[1]),
        "weights_dir": str(tmp_path / "weights"),
        "datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32], "targets": ["mono"]}},
        "sweep": {"variants": [{"method": "fixmatch", "regularizer": "fixclr"}], "backbones": ["timm:resnet10t"],
                  "pretrained": [True], "seeds": [0]},
    })
    [fold] = expand_folds(sweep)
    weights = weights_path(sweep, "timm:resnet10t")
    assert weights == tmp_path / "weights" / "timm-resnet10t.pth" and fold.spec["train"]["weights"] == str(weights)
    assert fold.run_dir.parts[-5] == "timm-resnet10t-pt"  # no ':' in file or folder names
    source_path = tmp_path / "resnet10t-timm.pth"
    source = _random_timm_checkpoint("resnet10t", source_path)
    assert weights_main(["--backbone", "timm:resnet10t", "--source", str(source_path), "--out", str(weights)]) == 0
    written = torch.load(weights, weights_only=True)
    assert not any(key.startswith("fc.") for key in written)  # the backbone only, classifier dropped
    spec = write_fold_spec(Fold(run_dir=tmp_path / "spec", spec=fold.spec))
    source_path.unlink()  # the fold reads the weights file and nothing else
    result = run_fold(fold_config.load(spec, [*TWO_STEPS, f"out_dir={tmp_path / 'run'}"]))
    assert (result["backbone"], result["pretrained"]) == ("timm:resnet10t", True)
    model = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["trainer"]["model"]
    for name, tensor in source.items():
        if not name.startswith("fc.") and "running_" not in name and "num_batches" not in name:
            assert torch.equal(model[f"backbone.net.{name}"], tensor), name  # lr=0: still the file's values


def test_partial_or_missing_weights_and_unknown_models_are_refused(tmp_path, fold_cfg):
    full = timm.create_model("resnet10t", num_classes=0).state_dict()
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in full.items() if k.startswith(("conv1.", "bn1.", "layer1."))}, partial)
    with pytest.raises(ValueError, match=r"do not match the backbone: missing \['layer2"):
        build_backbone("timm:resnet10t", pretrained=True, weights=partial)
    with pytest.raises(FileNotFoundError, match=r"fixclr weights --backbone timm:resnet10t --out .*nope\.pth"):
        build_backbone("timm:resnet10t", pretrained=True, weights=tmp_path / "nope.pth")
    with pytest.raises(fold_config.ConfigError, match="config key 'backbone': unknown timm model 'resnet999'"):
        fold_config.resolve({**fold_cfg, "backbone": "timm:resnet999"})
    with pytest.raises(fold_config.ConfigError, match="'backbone' must be one of cnn, resnet18, resnet50, timm:<model>"):
        fold_config.resolve({**fold_cfg, "backbone": "vgg16"})


def test_a_vit_runs_at_the_fold_image_size():
    """ViTs get dynamic_img_size: a 224-pixel ViT forwards 32x32 images (2x2 patches) with its own weights' shapes."""
    backbone = build_backbone("timm:vit_tiny_patch16_224")
    assert backbone.out_dim == 192 and backbone(torch.rand(2, 3, 32, 32)).shape == (2, 192)
    assert backbone.net.pos_embed.shape == timm.create_model("vit_tiny_patch16_224").pos_embed.shape
