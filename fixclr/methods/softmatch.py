"""SoftMatch (Chen et al., ICLR 2023): truncated-Gaussian confidence weights.

With uniform alignment (``softmatch.dist_align``), the weak-view probabilities are first
aligned to the uniform prior: ``q' = SumNorm(q * u / pbar_t)``, ``u = 1/C`` and
``pbar_t = m pbar_{t-1} + (1 - m) mean_b q_b``; ``pbar_1`` is the first batch's mean, as in USB
(``softmatch.dist_align_init: batch``), or ``pbar_0 = 1/C`` (``uniform``). The confidence
``c_b = max(q'_b)`` then has running mean and variance
``mu_t = m mu_{t-1} + (1 - m) mean_b c_b`` (initialised to ``1/C``) and
``var_t = m var_{t-1} + (1 - m) var_b c_b`` (unbiased batch variance; initialised to 1; a
one-sample batch leaves it unchanged), with ``m = softmatch.ema_decay``, updated from the whole
(all-rank) batch before weighting. The weight is
``lambda(c) = exp(-(c - mu_t)^2 / (2 var_t / n_sigma^2))`` for ``c < mu_t`` and 1 otherwise
(``lambda_max = 1``; the unlabeled loss weight scales it; ``n_sigma = softmatch.n_sigma`` as in
USB). Hard pseudo-labels are the argmax of the *unaligned* weak view (as in USB).

FixCLR needs a set of trusted anchors: ``mask = weight >= 0.5``, i.e. confidence at most
``sqrt(2 ln 2) * sqrt(var_t) / n_sigma`` below ``mu_t`` (every sample above the mean is in).
"""

from __future__ import annotations

import torch

from fixclr.distributed import all_gather_nograd
from fixclr.hparams import Choice, Uniform
from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod

ANCHOR_MIN_WEIGHT = 0.5
"""Samples whose SoftMatch weight reaches this value are FixCLR anchors (``PseudoLabels.mask``)."""


@METHODS.register("softmatch")
class SoftMatch(SSLMethod):
    """Hard weak-view pseudo-labels weighted by a truncated Gaussian of their confidence."""

    HPARAMS = {"softmatch.ema_decay": Choice((0.99, 0.995, 0.999)), "softmatch.n_sigma": Uniform(1.0, 3.0)}

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__(cfg, num_classes, num_unlabeled)
        settings = cfg["softmatch"]
        self.ema_decay = float(settings["ema_decay"])
        self.dist_align = bool(settings["dist_align"])
        self.n_sigma = float(settings["n_sigma"])
        from_first_batch = settings["dist_align_init"] == "batch"
        self.register_buffer("confidence_mean", torch.tensor(1.0 / num_classes))
        self.register_buffer("confidence_var", torch.tensor(1.0))
        self.register_buffer("prob_mean", torch.full((num_classes,), 1.0 / num_classes))
        self.register_buffer("prob_mean_set", torch.tensor(not from_first_batch))  # False: next batch sets it

    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """Uniform distribution alignment ``SumNorm(q / pbar_t)`` (the uniform prior cancels)."""
        aligned = probs / self.prob_mean
        return aligned / aligned.sum(dim=-1, keepdim=True)

    def weights(self, confidence: torch.Tensor) -> torch.Tensor:
        """Truncated-Gaussian weight of each confidence under the current ``mu_t`` and ``var_t``."""
        below_mean = (confidence - self.confidence_mean).clamp(max=0.0)
        return torch.exp(-(below_mean**2) / (2.0 * self.confidence_var / self.n_sigma**2))

    @torch.no_grad()
    def pseudo_label(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int
    ) -> PseudoLabels:
        """Update the EMAs with this batch, then weight each sample by its (aligned) confidence."""
        probs = logits_weak.detach().float().softmax(dim=-1)
        labels = probs.argmax(dim=-1)
        if self.dist_align:
            self._update_prob_mean(all_gather_nograd(probs).mean(dim=0))
            probs = self.align(probs)
        confidence = probs.max(dim=-1).values
        self._update_confidence_statistics(all_gather_nograd(confidence))
        weight = self.weights(confidence)
        return PseudoLabels(labels=labels, weight=weight, mask=weight >= ANCHOR_MIN_WEIGHT)

    def _update_prob_mean(self, batch_mean: torch.Tensor) -> None:
        """One EMA step of ``pbar_t``; the first step of a ``batch`` start copies the batch mean."""
        weight = torch.where(self.prob_mean_set, 1.0 - self.ema_decay, 1.0)  # no host sync
        self.prob_mean.lerp_(batch_mean, weight.to(self.prob_mean.dtype))
        self.prob_mean_set.fill_(True)

    def _update_confidence_statistics(self, confidence: torch.Tensor) -> None:
        """One EMA step of ``mu_t`` and ``var_t`` from the all-rank confidences."""
        self.confidence_mean.lerp_(confidence.mean(), 1.0 - self.ema_decay)
        if confidence.numel() > 1:
            self.confidence_var.lerp_(confidence.var(unbiased=True), 1.0 - self.ema_decay)
