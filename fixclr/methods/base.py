"""The interface every SSL method implements, and the method registry.

A method turns the classifier's outputs on weak and strong views of the unlabeled batch into
pseudo-labels with per-sample weights (its "masking" part, swappable as in USB). Its running
statistics (EMAs, class learning status) are registered buffers, so they are part of
``state_dict`` and therefore of the checkpoint: exact resume holds for every method.
Statistics must be updated from tensors gathered over all ranks
(``fixclr.distributed.all_gather_nograd``) so that DDP computes what one process computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fixclr.registry import Registry


@dataclass
class PseudoLabels:
    """Pseudo-labels of one unlabeled batch (the local part of it under DDP)."""

    labels: torch.Tensor  # (N,) int64: hard pseudo-labels (argmax of the weak-view prediction)
    weight: torch.Tensor  # (N,) float in [0, 1]: per-sample weight of the unlabeled loss
    mask: torch.Tensor  # (N,) bool: pseudo-label trusted (FixCLR's anchors, mask-rate diagnostics)
    extra_loss: torch.Tensor | None = None  # scalar added to the unlabeled loss (FreeMatch fairness)


class SSLMethod(torch.nn.Module):
    """Base class: ``pseudo_label`` decides labels and weights, ``unlabeled_loss`` scores strong views."""

    uses_unlabeled: bool = True

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.num_unlabeled = num_unlabeled

    def pseudo_label(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int
    ) -> PseudoLabels:
        """Pseudo-labels for the local unlabeled batch; ``idx`` are the samples' unlabeled-set indices."""
        raise NotImplementedError

    def unlabeled_loss(self, logits_strong: torch.Tensor, pl: PseudoLabels) -> torch.Tensor:
        """Weighted cross-entropy of strong views against pseudo-labels, averaged over the batch."""
        loss = (F.cross_entropy(logits_strong, pl.labels, reduction="none") * pl.weight).mean()
        return loss if pl.extra_loss is None else loss + pl.extra_loss


METHODS: Registry[type[SSLMethod]] = Registry("SSL method")
