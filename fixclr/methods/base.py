"""The interface every SSL method implements, and the method registry.

A method turns the classifier's outputs on weak and strong views of the unlabeled batch into
pseudo-labels with per-sample weights (its "masking" part, swappable as in USB). Two optional
hooks change the rest of the loss: ``labeled_losses`` (a method with ``uses_labeled_strong``
also gets a strong view of the labeled images, DeFixMatch) and ``extra_loss`` (a term outside
the unlabeled loss's warm-up weight, FreeMatch's fairness). Its running
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


class SSLMethod(torch.nn.Module):
    """Base class: ``pseudo_label`` decides labels and weights, ``unlabeled_loss`` scores strong views."""

    uses_unlabeled: bool = True
    uses_labeled_strong: bool = False  # the loop also forwards a strong view of the labeled images
    # Random-search distributions of the method's own settings: {dotted config key: distribution}
    # (fixclr.hparams; lr, weight_decay and FixCLR's are added there for every method).
    HPARAMS: dict = {}

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
        return (F.cross_entropy(logits_strong, pl.labels, reduction="none") * pl.weight).mean()

    def labeled_losses(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor | None, targets: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(supervised loss, term added to the unlabeled loss or None) of the local labeled batch.

        ``logits_strong`` are the labeled images' strong views when ``uses_labeled_strong``, else None.
        """
        return F.cross_entropy(logits_weak, targets), None

    def extra_loss(self, logits_strong: torch.Tensor, pl: PseudoLabels) -> torch.Tensor | None:
        """A term added to the total loss outside the unlabeled warm-up weight (None: no such term)."""
        return None


METHODS: Registry[type[SSLMethod]] = Registry("SSL method")
