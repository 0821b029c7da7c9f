"""SoftMatch's confidence EMAs, truncated-Gaussian weights, masks and alignment against hand values."""

from __future__ import annotations

import math

import pytest
import torch

NO_ALIGNMENT = {"softmatch": {"ema_decay": 0.5, "dist_align": False, "n_sigma": 2}}


def gaussian_weight(confidence, mean, var, n_sigma=2):
    """The paper's truncated Gaussian: 1 above the mean, exp(-(c - mu)^2 / (2 var / n^2)) below."""
    return 1.0 if confidence >= mean else math.exp(-((confidence - mean) ** 2) / (2 * var / n_sigma**2))


def test_weights_and_emas_after_three_updates(make_method, as_logits):
    method = make_method("softmatch", 3, 100, NO_ALIGNMENT)
    assert method.confidence_mean.item() == pytest.approx(1 / 3)
    assert method.confidence_var.item() == 1.0

    # Step 1: confidences 0.9, 0.6, 0.5, 0.8: mean 0.7, unbiased variance
    # (0.2^2 + 0.1^2 + 0.2^2 + 0.1^2) / 3 = 0.1 / 3.
    weak = as_logits([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    pl = method.pseudo_label(weak, weak, torch.arange(4), step=0)
    mean, var = 0.5 / 3 + 0.5 * 0.7, 0.5 * 1.0 + 0.5 * 0.1 / 3
    assert method.confidence_mean.item() == pytest.approx(mean)
    assert method.confidence_var.item() == pytest.approx(var)
    assert (mean, var) == pytest.approx((0.5166667, 0.5166667))
    # Only 0.5 is below the mean: exp(-(0.5 - 0.516667)^2 / (2 * 0.516667 / 4)) = 0.998925.
    assert pl.weight.tolist() == pytest.approx([1.0, 1.0, 0.9989253, 1.0], rel=1e-5)
    assert pl.labels.tolist() == [0, 0, 1, 2]
    assert pl.mask.tolist() == [True, True, True, True]

    # Step 2: confidences 0.95, 0.9, 0.34, 0.85.
    weak = as_logits([[0.95, 0.03, 0.02], [0.02, 0.9, 0.08], [0.34, 0.33, 0.33], [0.05, 0.1, 0.85]])
    pl = method.pseudo_label(weak, weak, torch.arange(4), step=1)
    batch = [0.95, 0.9, 0.34, 0.85]
    batch_mean = sum(batch) / 4  # 0.76
    batch_var = sum((c - batch_mean) ** 2 for c in batch) / 3
    mean, var = 0.5 * mean + 0.5 * batch_mean, 0.5 * var + 0.5 * batch_var
    assert method.confidence_mean.item() == pytest.approx(mean)
    assert method.confidence_var.item() == pytest.approx(var)
    assert (mean, var) == pytest.approx((0.6383333, 0.2983667))
    expected = [gaussian_weight(c, mean, var) for c in batch]
    assert expected[2] == pytest.approx(0.5506808)
    assert pl.weight.tolist() == pytest.approx(expected, rel=1e-5)
    assert pl.mask.tolist() == [True, True, True, True]

    # Step 3: confidences 0.97, 0.4, 0.85, 0.9; the 0.4 sample falls below weight 0.5.
    weak = as_logits([[0.97, 0.02, 0.01], [0.4, 0.35, 0.25], [0.1, 0.85, 0.05], [0.05, 0.05, 0.9]])
    pl = method.pseudo_label(weak, weak, torch.arange(4), step=2)
    batch = [0.97, 0.4, 0.85, 0.9]
    batch_mean = sum(batch) / 4
    batch_var = sum((c - batch_mean) ** 2 for c in batch) / 3
    mean, var = 0.5 * mean + 0.5 * batch_mean, 0.5 * var + 0.5 * batch_var
    assert (mean, var) == pytest.approx((0.7091667, 0.1824833))
    assert method.confidence_mean.item() == pytest.approx(mean)
    assert method.confidence_var.item() == pytest.approx(var)
    assert pl.weight.tolist() == pytest.approx([1.0, 0.3507815, 1.0, 1.0], rel=1e-5)
    assert pl.mask.tolist() == [True, False, True, True]


def test_uniform_alignment_divides_by_the_running_mean_probability(make_method, as_logits):
    method = make_method("softmatch", 2, 100, {"softmatch": {"ema_decay": 0.5, "dist_align": True}})
    assert method.prob_mean.tolist() == [0.5, 0.5]
    # Mean probability (0.7, 0.3) -> running mean (0.6, 0.4).
    weak = as_logits([[0.8, 0.2], [0.6, 0.4]])
    pl = method.pseudo_label(weak, weak, torch.arange(2), step=0)
    assert method.prob_mean.tolist() == pytest.approx([0.6, 0.4])
    # Aligned: (0.8/0.6, 0.2/0.4) -> (4/3, 1/2) / (11/6) = (8/11, 3/11); (0.6/0.6, 0.4/0.4) -> (1/2, 1/2).
    confidences = [8 / 11, 1 / 2]
    batch_mean = sum(confidences) / 2
    batch_var = (confidences[0] - confidences[1]) ** 2 / 2
    mean, var = 0.5 * 0.5 + 0.5 * batch_mean, 0.5 * 1.0 + 0.5 * batch_var
    assert method.confidence_mean.item() == pytest.approx(mean)
    assert method.confidence_var.item() == pytest.approx(var)
    assert pl.weight.tolist() == pytest.approx([gaussian_weight(c, mean, var) for c in confidences], rel=1e-5)
    # Labels come from the unaligned weak view.
    assert pl.labels.tolist() == [0, 0]


def test_a_single_sample_batch_keeps_the_variance(make_method, as_logits):
    method = make_method("softmatch", 2, 10, NO_ALIGNMENT)
    weak = as_logits([[0.9, 0.1]])
    method.pseudo_label(weak, weak, torch.arange(1), step=0)
    assert method.confidence_mean.item() == pytest.approx(0.5 * 0.5 + 0.5 * 0.9)
    assert method.confidence_var.item() == 1.0
