"""FixMatch (Sohn et al. 2020): hard pseudo-labels from weak views, kept where confidence >= threshold."""

from __future__ import annotations

import torch

from fixclr.hparams import Uniform
from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod


@METHODS.register("fixmatch")
class FixMatch(SSLMethod):
    """mask = max softmax(weak) >= cfg["threshold"]; weight = mask; loss = CE(strong, argmax(weak)) * weight."""

    HPARAMS = {"threshold": Uniform(0.8, 0.98)}

    def pseudo_label(self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int) -> PseudoLabels:
        return self.confident_labels(logits_weak)

    def confident_labels(self, logits_weak: torch.Tensor) -> PseudoLabels:
        """Argmax pseudo-labels of any batch's weak views, trusted where their confidence reaches the threshold."""
        confidence, labels = torch.softmax(logits_weak.detach().float(), dim=1).max(dim=1)
        mask = confidence >= self.cfg["threshold"]
        return PseudoLabels(labels=labels, weight=mask.float(), mask=mask)
