"""ERM: labeled cross-entropy only, the supervised baseline (unlabeled images are never used)."""

from __future__ import annotations

import torch

from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod


@METHODS.register("erm")
class ERM(SSLMethod):
    """The training loop skips the unlabeled batch entirely when ``uses_unlabeled`` is False."""

    uses_unlabeled = False

    def pseudo_label(self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int) -> PseudoLabels:
        raise RuntimeError("ERM does not use unlabeled data; the training loop must not ask it for pseudo-labels")
