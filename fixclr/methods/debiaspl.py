"""DebiasPL (Wang et al., CVPR 2022): pseudo-labels debiased by the running class marginal.

``p_t`` (buffer ``class_prior``, initialised to ``1/C``) is an EMA, decay
``m = debiaspl.ema_decay``, of the mean weak-view probability of the whole (all-rank) batch,
i.e. the model's marginal class distribution on unlabeled data, per class:
``p_t = m p_{t-1} + (1 - m) mean_b softmax(weak_b)``. With ``tau = debiaspl.tau``:

- pseudo-labels and mask from the debiased probabilities ``softmax(weak_b - tau log p_{t-1})``
  (argmax, trusted where the maximum reaches ``threshold``), computed before ``p`` takes this
  batch;
- the adaptive marginal loss on the strong views ``mean_b mask_b CE(strong_b + tau log p_t, yhat_b)``
  uses the updated ``p_t`` (the order of the authors' code).

A class the model over-predicts gets a lower debiased probability and a larger margin in the loss.
"""

from __future__ import annotations

import torch

from fixclr.distributed import all_gather_nograd
from fixclr.hparams import Choice, LogUniform, Uniform
from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod


@METHODS.register("debiaspl")
class DebiasPL(SSLMethod):
    """Hard pseudo-labels of ``softmax(weak - tau log p)``, scored with a ``tau log p`` margin."""

    HPARAMS = {"threshold": Uniform(0.8, 0.98), "debiaspl.tau": LogUniform(0.1, 1.0),
               "debiaspl.ema_decay": Choice((0.99, 0.995, 0.999))}

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__(cfg, num_classes, num_unlabeled)
        settings = cfg["debiaspl"]
        self.tau = float(settings["tau"])
        self.ema_decay = float(settings["ema_decay"])
        self.threshold = float(cfg["threshold"])
        self.register_buffer("class_prior", torch.full((num_classes,), 1.0 / num_classes))

    def log_prior_margin(self) -> torch.Tensor:
        """``tau * log p_t`` of every class."""
        return self.tau * self.class_prior.log()

    @torch.no_grad()
    def pseudo_label(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int
    ) -> PseudoLabels:
        """Mask with the current ``p``, then move ``p`` towards this batch's mean probability."""
        logits = logits_weak.detach().float()
        confidence, labels = (logits - self.log_prior_margin()).softmax(dim=-1).max(dim=-1)
        mask = confidence >= self.threshold
        self.class_prior.lerp_(all_gather_nograd(logits.softmax(dim=-1)).mean(dim=0), 1.0 - self.ema_decay)
        return PseudoLabels(labels=labels, weight=mask.float(), mask=mask)

    def unlabeled_loss(self, logits_strong: torch.Tensor, pl: PseudoLabels) -> torch.Tensor:
        """Masked cross-entropy of the strong views shifted by the adaptive margin ``tau log p_t``."""
        return super().unlabeled_loss(logits_strong + self.log_prior_margin(), pl)
