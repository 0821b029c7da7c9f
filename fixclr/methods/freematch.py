"""FreeMatch (Wang et al., ICLR 2023): self-adaptive thresholding and class fairness.

Running statistics (EMA decay ``lambda = freematch.ema_decay``, all initialised to ``1/C``),
updated with the weak-view probabilities ``q_b`` of the whole (all-rank) batch *before* masking:

- global threshold ``tau_t = lambda tau_{t-1} + (1 - lambda) mean_b max(q_b)``;
- class-wise confidence ``p_t = lambda p_{t-1} + (1 - lambda) mean_b q_b``;
- pseudo-label histogram ``h_t = lambda h_{t-1} + (1 - lambda) Hist(argmax q_b)``.

A sample predicted as class ``c`` is trusted when ``max(q_b) >= MaxNorm(p_t)_c * tau_t``.
The self-adaptive fairness loss ``L_f = -H(SumNorm(p_t / h_t), SumNorm(pbar / hbar))``, with
``pbar`` and ``hbar`` the mean probability and argmax histogram of the *strong* views of the
trusted samples (``H`` the cross-entropy; as in USB, a class absent from ``hbar`` contributes 0
to ``pbar / hbar``), weighted by ``freematch.fairness_weight``, is the method's ``extra_loss``:
added to the total loss outside the unlabeled warm-up weight, as USB adds it next to
``lambda_u * L_u``, and computed from the strong logits that carry the gradient
(``pseudo_label`` may get them detached). It is computed on the local batch (as in USB), so
under DDP it is the mean of per-rank values.
"""

from __future__ import annotations

import torch

from fixclr.distributed import all_gather_nograd
from fixclr.hparams import Choice, LogUniform
from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod

LOG_EPSILON = 1e-12
"""Added inside the fairness loss's logarithm, where a class may have zero probability mass."""


def sum_normalise(x: torch.Tensor) -> torch.Tensor:
    """``x / sum(x)`` along the last dimension."""
    return x / x.sum(dim=-1, keepdim=True)


def reciprocal_or_zero(x: torch.Tensor) -> torch.Tensor:
    """``1 / x`` where ``x > 0``, else 0 (a class never predicted is left out, as in USB)."""
    return torch.where(x > 0, x.reciprocal(), 0.0)


def class_histogram(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fraction of ``labels`` equal to each class."""
    return torch.bincount(labels, minlength=num_classes).float() / labels.numel()


@METHODS.register("freematch")
class FreeMatch(SSLMethod):
    """Hard weak-view pseudo-labels kept above a self-adaptive, class-modulated threshold."""

    HPARAMS = {"freematch.ema_decay": Choice((0.99, 0.995, 0.999)), "freematch.fairness_weight": LogUniform(0.001, 0.1)}

    def __init__(self, cfg: dict, num_classes: int, num_unlabeled: int):
        super().__init__(cfg, num_classes, num_unlabeled)
        settings = cfg["freematch"]
        self.ema_decay = float(settings["ema_decay"])
        self.fairness_weight = float(settings["fairness_weight"])
        uniform = torch.full((num_classes,), 1.0 / num_classes)
        self.register_buffer("global_threshold", torch.tensor(1.0 / num_classes))
        self.register_buffer("class_confidence", uniform.clone())
        self.register_buffer("label_histogram", uniform.clone())

    def class_thresholds(self) -> torch.Tensor:
        """Self-adaptive threshold ``MaxNorm(p_t)_c * tau_t`` of every class."""
        return self.global_threshold * self.class_confidence / self.class_confidence.max()

    @torch.no_grad()
    def pseudo_label(
        self, logits_weak: torch.Tensor, logits_strong: torch.Tensor, idx: torch.Tensor, step: int
    ) -> PseudoLabels:
        """Update the EMAs with this batch, then mask with the new thresholds."""
        probs = logits_weak.detach().float().softmax(dim=-1)
        self._update_statistics(all_gather_nograd(probs))
        max_prob, labels = probs.max(dim=-1)
        mask = max_prob >= self.class_thresholds()[labels]
        return PseudoLabels(labels=labels, weight=mask.float(), mask=mask)

    def extra_loss(self, logits_strong: torch.Tensor, pl: PseudoLabels) -> torch.Tensor:
        """The weighted fairness loss, outside the unlabeled loss and its warm-up weight."""
        return self.fairness_weight * self.fairness_loss(logits_strong, pl.mask)

    def _update_statistics(self, probs: torch.Tensor) -> None:
        """One EMA step of ``tau_t``, ``p_t`` and ``h_t`` from the all-rank weak probabilities."""
        max_prob, labels = probs.max(dim=-1)
        weight = 1.0 - self.ema_decay
        self.global_threshold.lerp_(max_prob.mean(), weight)
        self.class_confidence.lerp_(probs.mean(dim=0), weight)
        self.label_histogram.lerp_(class_histogram(labels, self.num_classes), weight)

    def fairness_loss(self, logits_strong: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unweighted ``L_f`` over the trusted samples' strong views (0 when none is trusted).

        Computed with the mask as weights rather than by selecting the trusted rows, so that no
        step waits for the device to say how many there are (no host sync)."""
        weights = mask.float()
        trusted = weights.sum()
        probs_strong = logits_strong.float().softmax(dim=-1)
        predicted = probs_strong.detach().argmax(dim=-1)
        share = trusted.clamp(min=1.0)
        histogram_strong = torch.zeros(self.num_classes, device=weights.device).index_add_(0, predicted, weights) / share
        mean_strong = (weights[:, None] * probs_strong).sum(dim=0) / share
        batch_target = sum_normalise(mean_strong * reciprocal_or_zero(histogram_strong) + (trusted == 0).float())
        model_target = sum_normalise(self.class_confidence * reciprocal_or_zero(self.label_histogram))
        return (trusted > 0).float() * (model_target * torch.log(batch_target + LOG_EPSILON)).sum()
