"""Backbones, projection head, and the local-only pretrained-weights path."""

from __future__ import annotations

import pytest
import torch
import torchvision

from fixclr.models import SSLNet, build_backbone, load_imagenet_state_dict
from fixclr.models.weights import cached_weights_path


def test_small_cnn_width_sets_the_feature_size_and_head_normalises():
    backbone = build_backbone("cnn", width=8)
    assert backbone.out_dim == 32
    net = SSLNet(backbone, num_classes=10, embedding="projection", proj_dim=16)
    logits, z = net(torch.rand(4, 3, 32, 32))
    assert logits.shape == (4, 10) and z.shape == (4, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    logits, z = SSLNet(build_backbone("cnn", width=8), 10, embedding="features")(torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 32)
    assert SSLNet(build_backbone("cnn", width=8), 10)(torch.rand(2, 3, 32, 32))[1] is None


def test_pretrained_resnet18_loads_a_local_weights_file(tmp_path):
    """No download is possible here: the test writes a torchvision-format state dict itself."""
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone("resnet18", pretrained=True, weights=path)
    assert backbone.out_dim == 512
    assert torch.equal(backbone.net.conv1.weight, reference.conv1.weight)
    assert torch.equal(backbone.net.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_missing_weights_name_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(FileNotFoundError, match="fixclr weights --backbone resnet50") as error:
        load_imagenet_state_dict("resnet50")
    assert str(cached_weights_path("resnet50")) in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"fixclr weights --backbone resnet18 --out .*nope\.pth"):
        build_backbone("resnet18", pretrained=True, weights=tmp_path / "nope.pth")


def test_wrong_weights_file_and_pretrained_cnn_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a torchvision resnet18 state dict"):
        load_imagenet_state_dict("resnet18", path)
    with pytest.raises(ValueError, match="'cnn' has no pretrained weights"):
        build_backbone("cnn", pretrained=True)


def test_partial_weights_file_is_refused_not_silently_half_loaded(tmp_path):
    """A state dict holding only some of the backbone's tensors must not leave the rest random."""
    full = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in full.items() if k.startswith(("conv1.", "bn1.", "layer1.", "fc."))}, path)
    with pytest.raises(ValueError, match=r"do not match the backbone: missing \['layer2"):
        build_backbone("resnet18", pretrained=True, weights=path)


def test_weights_command_leaves_an_existing_file_alone(tmp_path, capsys):
    """The download itself needs internet (login node); here only its no-op path can run."""
    from fixclr.models.weights import main

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    stamp = path.stat().st_mtime_ns
    assert main(["--backbone", "resnet18", "--out", str(path)]) == 0
    assert "already exists" in capsys.readouterr().out and path.stat().st_mtime_ns == stamp


def test_the_config_knows_the_registered_backbones_without_importing_torch():
    from fixclr.config import BUILTIN_BACKBONES
    from fixclr.models.backbones import BACKBONES

    assert sorted(BUILTIN_BACKBONES) == sorted(BACKBONES.names())


def test_too_many_cnn_stages_for_the_image_size_is_a_user_error(tmp_path):
    """The default 4-block CNN halves 8x8 images to nothing: one error naming the key, before building."""
    from fixclr.config import resolve
    from fixclr.data.loader import FoldData, ImageSet
    from fixclr.engine import Trainer
    from fixclr.errors import UserError

    def part(n: int) -> ImageSet:
        return ImageSet(torch.zeros((n, 3, 8, 8), dtype=torch.uint8), torch.arange(n) % 2)

    data = FoldData("tiny", 2, ["0", "1"], ["a", "b"], "c", part(4), [2, 2], part(4), {"a": part(2)}, part(2), 8,
                    unlabeled_sizes=[2, 2])
    cfg = resolve({"manifest": "-", "split": "-", "target_domain": "c", "out_dir": str(tmp_path), "batch_size": 2})
    with pytest.raises(UserError, match=r"cnn_stages 4 .* 8x8 images need cnn_stages <= 3"):
        Trainer(cfg, data, torch.device("cpu"))
    Trainer(resolve({**cfg, "cnn_stages": 3}), data, torch.device("cpu"))  # 3 halvings fit
