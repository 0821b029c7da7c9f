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


def aligned_confidence(probs, prob_mean):
    """max of SumNorm(q / pbar) for one sample."""
    ratios = [q / p for q, p in zip(probs, prob_mean)]
    return max(ratios) / sum(ratios)


def test_alignment_starts_from_the_first_batch_mean_as_in_usb(make_method, as_logits):
    method = make_method("softmatch", 2, 100, {"softmatch": {"ema_decay": 0.5, "dist_align": True}})
    assert method.cfg["softmatch"]["dist_align_init"] == "batch"  # the default
    # Step 1: the running mean becomes the batch mean (0.7, 0.3), not (1/2 + 0.7, 1/2 + 0.3) / 2.
    first = [[0.8, 0.2], [0.6, 0.4]]
    method.pseudo_label(as_logits(first), as_logits(first), torch.arange(2), step=0)
    assert method.prob_mean.tolist() == pytest.approx([0.7, 0.3])
    confidences = [12 / 19, 14 / 23]  # (0.8/0.7, 0.2/0.3) -> (12/19, 7/19); (0.6/0.7, 0.4/0.3) -> (9/23, 14/23)
    assert [aligned_confidence(q, [0.7, 0.3]) for q in first] == pytest.approx(confidences)
    mean = 0.5 * 0.5 + 0.5 * sum(confidences) / 2
    var = 0.5 * 1.0 + 0.5 * (confidences[0] - confidences[1]) ** 2 / 2

    # Step 2: batch mean (0.55, 0.45), so pbar = 0.5 (0.7, 0.3) + 0.5 (0.55, 0.45) = (0.625, 0.375).
    second = [[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]]
    pl = method.pseudo_label(as_logits(second), as_logits(second), torch.arange(3), step=1)
    assert method.prob_mean.tolist() == pytest.approx([0.625, 0.375])
    # (36/25, 4/15) -> 27/32; (22/25, 30/25) -> 15/26; (8/25, 32/15) -> 20/23.
    confidences = [27 / 32, 15 / 26, 20 / 23]
    assert [aligned_confidence(q, [0.625, 0.375]) for q in second] == pytest.approx(confidences)
    batch_mean = sum(confidences) / 3
    mean = 0.5 * mean + 0.5 * batch_mean
    var = 0.5 * var + 0.5 * sum((c - batch_mean) ** 2 for c in confidences) / 2
    assert (mean, var) == pytest.approx((0.6617407, 0.2631907), abs=1e-6)
    assert method.confidence_mean.item() == pytest.approx(mean)
    assert method.confidence_var.item() == pytest.approx(var)
    assert pl.weight.tolist() == pytest.approx([1.0, 0.9467996, 1.0], rel=1e-5)
    assert [gaussian_weight(c, mean, var) for c in confidences] == pytest.approx([1.0, 0.9467996, 1.0], rel=1e-6)
    assert pl.labels.tolist() == [0, 0, 1]  # from the unaligned view


def test_uniform_alignment_divides_by_the_running_mean_probability(make_method, as_logits):
    method = make_method("softmatch", 2, 100,
                         {"softmatch": {"ema_decay": 0.5, "dist_align": True, "dist_align_init": "uniform"}})
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
