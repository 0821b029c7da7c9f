"""The classifier network: backbone + linear classifier + optional projection head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or in its own dtype if wider (bf16 autocast outputs are upcast, float64 kept)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class ProjectionHead(nn.Sequential):
    """2-layer MLP (Linear-ReLU-Linear), as in SimCLR/SupCon."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


class SSLNet(nn.Module):
    """``forward(x) -> (logits, z)``; z are L2-normalised embeddings for FixCLR, or None.

    ``embedding`` is ``"projection"`` (a head over the features), ``"features"`` (the normalised
    backbone features) or ``None`` (no embedding: no projection head, nothing unused under DDP).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, embedding: str | None = None, proj_dim: int = 64):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.out_dim, num_classes)
        self.embedding = embedding
        self.projection = ProjectionHead(backbone.out_dim, proj_dim) if embedding == "projection" else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.backbone(x)
        logits = self.classifier(features)
        if self.embedding is None:
            return logits, None
        z = self.projection(features) if self.projection is not None else features
        return logits, F.normalize(at_least_float32(z), dim=1)
