"""DeFixMatch (Schmutz et al., ICLR 2023): FixMatch with its pseudo-label loss debiased on labeled data.

The pseudo-label loss is also computed on the labeled batch, whose labels are then ignored
(pseudo-labels from the labeled images' weak view, the same fixed-threshold mask, cross-entropy
on their strong view), and subtracted from the unlabeled one; the supervised loss averages the
cross-entropy of the labeled weak and strong views (``w = defixmatch.labeled_strong_weight``,
1/2 in the paper):

    L = (1 - w) CE(weak_l, y) + w CE(strong_l, y)
        + lambda_u [ mean_u mask_u CE(strong_u, yhat_u) - mean_l mask_l CE(strong_l, yhat_l) ]

Labeled and unlabeled images come from the same distribution, so the two pseudo-label terms have
the same expectation: their difference has mean zero and the loss estimates the supervised risk
without bias, whatever the pseudo-labels are (the paper's point). No running state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fixclr.hparams import Uniform
from fixclr.methods.base import METHODS
from fixclr.methods.fixmatch import FixMatch


@METHODS.register("defixmatch")
class DeFixMatch(FixMatch):
    """FixMatch's unlabeled loss minus the same loss on the labeled batch; CE on both labeled views."""

    uses_labeled_strong = True
    HPARAMS = {**FixMatch.HPARAMS, "defixmatch.labeled_strong_weight": Uniform(0.25, 0.75)}

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__(cfg, num_classes, num_unlabeled)
        self.labeled_strong_weight = float(cfg["defixmatch"]["labeled_strong_weight"])

    def labeled_losses(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor | None, targets: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Supervised loss over both labeled views, and minus the labeled batch's pseudo-label loss."""
        if logits_strong is None:
            raise ValueError("DeFixMatch needs the labeled images' strong views (uses_labeled_strong)")
        w = self.labeled_strong_weight
        supervised = (1.0 - w) * F.cross_entropy(logits_weak, targets) + w * F.cross_entropy(logits_strong, targets)
        pseudo = self.confident_labels(logits_weak)
        return supervised, -self.unlabeled_loss(logits_strong, pseudo)
