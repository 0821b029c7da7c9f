"""Backbones from timm (optional dependency ``pip install 'fixclr[timm]'``), named ``timm:<model>``.

``<model>`` is any timm model name, with or without its pretrained tag
(``timm:resnet50.a1_in1k``, ``timm:vit_small_patch16_224.augreg_in21k_ft_in1k``,
``timm:convnext_tiny``). The network is built without its classifier (``num_classes=0``) and,
where the architecture allows it (ViTs), with ``dynamic_img_size`` so that it runs at the fold's
image size. Pretrained weights are only ever read from a local file written by
``fixclr weights --backbone timm:<model>`` on a machine with internet; compute nodes stay offline.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from fixclr.config import TIMM_PREFIX
from fixclr.io import atomic_write_bytes
from fixclr.models.weights import WeightsError
from fixclr.sweep import backbone_slug

PREFIX = TIMM_PREFIX


def is_timm_backbone(name: str) -> bool:
    """Whether ``name`` names a timm backbone (``timm:<model>``)."""
    return name.startswith(PREFIX)


def _timm():
    try:
        import timm
    except ImportError:
        raise WeightsError("timm backbones need the optional dependency timm: pip install 'fixclr[timm]'") from None
    return timm


def check_timm_backbone(name: str) -> None:
    """Raise WeightsError unless ``name`` is ``timm:<a model timm knows>`` and timm is installed."""
    model = name[len(PREFIX):]
    if not _timm().is_model(model):
        raise WeightsError(f"unknown timm model {model!r} in backbone {name!r} (see timm.list_models())")


def create_features(name: str, pretrained: bool = False, source: str | Path | None = None) -> nn.Module:
    """The timm network of ``timm:<model>`` without classifier, random or with timm's pretrained weights
    (downloaded, or read from ``source``, a local timm checkpoint)."""
    timm, model = _timm(), name[len(PREFIX):]
    options = {"num_classes": 0, "pretrained": pretrained}
    if source is not None:
        options["pretrained_cfg_overlay"] = {"file": str(source)}
    try:
        return timm.create_model(model, dynamic_img_size=True, **options)
    except TypeError:  # architectures with a fixed input size (CNNs) take no dynamic_img_size
        return timm.create_model(model, **options)


class TimmFeatures(nn.Module):
    """A timm network without classifier; weights random or loaded from a local file covering all of it."""

    def __init__(self, name: str, pretrained: bool, weights: str | Path | None):
        super().__init__()
        check_timm_backbone(name)
        self.net = create_features(name)
        if pretrained:
            path = Path(weights) if weights else cached_weights_path(name)
            if not path.is_file():
                raise FileNotFoundError(
                    f"pretrained weights for {name} not found at {path}; compute nodes cannot download them. "
                    f"On a login node with internet run: fixclr weights --backbone {name}"
                    + (f" --out {path}" if path != cached_weights_path(name) else ""))
            state = torch.load(path, map_location="cpu", weights_only=True)
            missing, unexpected = self.net.load_state_dict(state, strict=False) if isinstance(state, dict) else ([], [])
            if not isinstance(state, dict) or missing or unexpected:
                raise WeightsError(f"{name} weights {path} do not match the backbone: missing {list(missing)[:5]}, "
                                 f"unexpected {list(unexpected)[:5]} (write them with fixclr weights --backbone {name})")
        self.out_dim = self.net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def cached_weights_path(name: str) -> Path:
    """The default weights file of ``timm:<model>``: ``timm-<model>.pth`` in torch's hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{backbone_slug(name)}.pth"


def download_weights(name: str, out: Path, source: Path | None = None) -> None:
    """Write the backbone state dict of ``timm:<model>`` with its pretrained weights to ``out``.

    The weights come from the Hugging Face hub through timm (needs internet), or from ``source``,
    a timm checkpoint file already on this machine (its classifier is dropped).
    """
    check_timm_backbone(name)
    buffer = io.BytesIO()
    torch.save(create_features(name, pretrained=True, source=source).state_dict(), buffer)
    atomic_write_bytes(out, buffer.getvalue())
