"""Feature extractors: a small CNN for 32x32 images and torchvision ResNets.

Every backbone maps images (N, 3, H, W) to features (N, out_dim) and exposes ``out_dim``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fixclr.models.weights import WeightsError, load_imagenet_state_dict


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Three conv stages of widths (w, 2w, 4w), each conv-BN-ReLU x2 then 2x2 max-pool, global average pool."""

    def __init__(self, width: int = 16):
        super().__init__()
        stages, cin = [], 3
        for cout in (width, 2 * width, 4 * width):
            stages += [_conv_bn_relu(cin, cout), _conv_bn_relu(cout, cout), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class ResNetFeatures(nn.Module):
    """A torchvision ResNet without its ImageNet classifier."""

    def __init__(self, name: str, pretrained: bool, weights: str | Path | None):
        super().__init__()
        import torchvision

        self.net = getattr(torchvision.models, name)(weights=None)
        if pretrained:
            state = load_imagenet_state_dict(name, weights)
            missing, unexpected = self.net.load_state_dict(
                {k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
            missing = [k for k in missing if not k.startswith("fc.")]  # the classifier is replaced below
            if missing or unexpected:
                raise WeightsError(f"{name} weights {weights or '(torch cache)'} do not match the backbone: "
                                 f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        self.out_dim = self.net.fc.in_features
        self.net.fc = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_backbone(name: str, width: int = 16, pretrained: bool = False, weights: str | Path | None = None) -> nn.Module:
    """``cnn`` (random init only), ``resnet18`` or ``resnet50`` (random or ImageNet weights)."""
    if name == "cnn":
        if pretrained:
            raise WeightsError("backbone 'cnn' has no pretrained weights; set pretrained: false")
        return SmallCNN(width)
    if name in ("resnet18", "resnet50"):
        return ResNetFeatures(name, pretrained, weights)
    raise ValueError(f"unknown backbone {name!r}; known: cnn, resnet18, resnet50")
