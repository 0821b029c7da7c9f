"""FlexMatch (Zhang et al., NeurIPS 2021): curriculum pseudo-labelling with class-wise thresholds.

Every unlabeled sample has a learning status: the class it was last predicted with confidence
``>= threshold`` (``-1`` while it never was). The learning effect of class ``c`` is
``sigma_c = #{n : status_n = c}``, normalised to
``beta_c = sigma_c / max(max_c' sigma_c', #unused)`` with threshold warm-up
(``flexmatch.warmup``) or ``beta_c = sigma_c / max_c' sigma_c'`` without it. A sample
predicted as class ``c`` is trusted when ``max_prob >= threshold * M(beta_c)`` with the convex
mapping ``M(x) = x / (2 - x)``. As in the paper's algorithm (and USB), the mask of a batch uses
the status *before* that batch updates it.
"""

from __future__ import annotations

import torch

from fixclr.distributed import all_gather_nograd
from fixclr.hparams import Uniform
from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod

UNUSED = -1
"""Learning status of a sample never predicted above the threshold."""


def convex_mapping(beta: torch.Tensor) -> torch.Tensor:
    """FlexMatch's non-linear mapping ``M(x) = x / (2 - x)`` of the normalised learning effect."""
    return beta / (2.0 - beta)


@METHODS.register("flexmatch")
class FlexMatch(SSLMethod):
    """Hard weak-view pseudo-labels kept where ``max_prob >= threshold * M(beta_class)``."""

    HPARAMS = {"threshold": Uniform(0.8, 0.98)}

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__(cfg, num_classes, num_unlabeled)
        self.threshold = float(cfg["threshold"])
        self.warmup = bool(cfg["flexmatch"]["warmup"])
        self.register_buffer(
            "learning_status", torch.full((num_unlabeled,), UNUSED, dtype=torch.long)
        )

    def class_learning_effect(self) -> torch.Tensor:
        """Normalised learning effect ``beta_c`` of every class, from the current learning status."""
        counts = torch.bincount(self.learning_status + 1, minlength=self.num_classes + 1).float()
        unused, sigma = counts[0], counts[1:]
        denominator = torch.maximum(sigma.max(), unused) if self.warmup else sigma.max()
        return sigma / denominator.clamp(min=1.0)  # no class learned yet and no warm-up: beta = 0

    def class_thresholds(self) -> torch.Tensor:
        """Flexible threshold ``threshold * M(beta_c)`` of every class."""
        return self.threshold * convex_mapping(self.class_learning_effect())

    @torch.no_grad()
    def pseudo_label(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int
    ) -> PseudoLabels:
        """Mask with the current class thresholds, then record confident samples' predictions."""
        max_prob, labels = logits_weak.detach().float().softmax(dim=-1).max(dim=-1)
        mask = max_prob >= self.class_thresholds()[labels]
        self._update_learning_status(idx.to(self.learning_status.device), max_prob, labels)
        return PseudoLabels(labels=labels, weight=mask.float(), mask=mask)

    def _update_learning_status(
        self, idx: torch.Tensor, max_prob: torch.Tensor, labels: torch.Tensor
    ) -> None:
        """Set the status of every sample (over all ranks) predicted with ``max_prob >= threshold``."""
        idx, max_prob, labels = (all_gather_nograd(t) for t in (idx, max_prob, labels))
        confident = max_prob >= self.threshold
        self.learning_status[idx[confident]] = labels[confident]
