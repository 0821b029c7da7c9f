"""Feature extractors: a small CNN for 32x32 images, torchvision ResNets and timm models.

Every backbone maps images (N, 3, H, W) to features (N, out_dim) and exposes ``out_dim``.
``BACKBONES`` names the built-in ones; ``timm:<model>`` names any timm model (optional dependency).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from fixclr.models import timm_backbones
from fixclr.models.timm_backbones import is_timm_backbone
from fixclr.models.weights import WeightsError, load_imagenet_state_dict
from fixclr.registry import Registry


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """``stages`` conv stages of widths (w, 2w, 4w, ...), each ``convs`` x conv-BN-ReLU then 2x2 max-pool,
    global average pool. The default is 3 stages of 2 convs; 4 stages of 1 conv is the common 4-block CNN."""

    def __init__(self, width: int = 16, stages: int = 3, convs: int = 2):
        super().__init__()
        if stages < 1 or convs < 1:
            raise ValueError(f"SmallCNN needs stages >= 1 and convs >= 1, got {stages}, {convs}")
        layers, cin = [], 3
        for stage in range(stages):
            cout = width * 2**stage
            layers += [_conv_bn_relu(cin if conv == 0 else cout, cout) for conv in range(convs)] + [nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
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


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone: ``build(width, pretrained, weights)``, and where its pretrained weights come from."""

    build: Callable[[int, bool, "str | Path | None"], nn.Module]
    weights: str  # none (random init only) | torchvision | timm


def _small_cnn(width: int, pretrained: bool, weights: str | Path | None, stages: int = 3, convs: int = 2) -> SmallCNN:
    if pretrained:
        raise WeightsError("backbone 'cnn' has no pretrained weights; set pretrained: false")
    return SmallCNN(width, stages, convs)


def _resnet(name: str, width: int, pretrained: bool, weights: str | Path | None) -> ResNetFeatures:
    return ResNetFeatures(name, pretrained, weights)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")
BACKBONES.register("cnn")(BackboneSpec(_small_cnn, "none"))
BACKBONES.register("resnet18")(BackboneSpec(partial(_resnet, "resnet18"), "torchvision"))
BACKBONES.register("resnet50")(BackboneSpec(partial(_resnet, "resnet50"), "torchvision"))


def _timm(name: str, width: int, pretrained: bool, weights: str | Path | None) -> nn.Module:
    return timm_backbones.TimmFeatures(name, pretrained, weights)


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of a registered backbone or of ``timm:<model>``; an unknown name raises ValueError."""
    if is_timm_backbone(name):
        timm_backbones.check_timm_backbone(name)
        return BackboneSpec(partial(_timm, name), "timm")
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES.names())}, timm:<model>")
    return BACKBONES.get(name)


def build_backbone(name: str, width: int = 16, pretrained: bool = False, weights: str | Path | None = None,
                   cnn_stages: int = 3, cnn_convs: int = 2) -> nn.Module:
    """The backbone ``name`` (``cnn``, ``resnet18``, ``resnet50``, ``timm:<model>``), random or pretrained;
    ``cnn_stages`` and ``cnn_convs`` shape the small CNN (SmallCNN's stages and convs)."""
    if name == "cnn":
        return _small_cnn(width, pretrained, weights, cnn_stages, cnn_convs)
    return backbone_spec(name).build(width, pretrained, weights)
