"""DebiasPL's class-marginal EMA, debiased pseudo-labels and adaptive margin against hand values."""

from __future__ import annotations

import math

import pytest
import torch


def test_one_update_then_debiased_labels_and_margin_loss(make_method, as_logits):
    method = make_method("debiaspl", 2, 10, {"threshold": 0.75, "debiaspl": {"tau": 0.4, "ema_decay": 0.5}})
    assert method.class_prior.tolist() == [0.5, 0.5]
    # Step 1: a uniform prior leaves the probabilities as they are: labels 0, 0, 1; 0.7 < 0.75.
    weak = as_logits([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    pl = method.pseudo_label(weak, weak, torch.arange(3), step=0)
    assert pl.labels.tolist() == [0, 0, 1] and pl.mask.tolist() == [True, True, False]
    # Mean probability (2/3, 1/3): p = (0.5 + 2/3, 0.5 + 1/3) / 2 = (7/12, 5/12).
    prior = [7 / 12, 5 / 12]
    assert method.class_prior.tolist() == pytest.approx(prior)
    # Margin loss: softmax(strong + 0.4 log p) is proportional to r_k p_k^0.4.
    strong = as_logits([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    shifted = [[r * p**0.4 for r, p in zip(row, prior)] for row in ([0.6, 0.4], [0.3, 0.7])]
    cross_entropy = [-math.log(row[0] / sum(row)) for row in shifted]  # both trusted with label 0
    assert method.unlabeled_loss(strong, pl).item() == pytest.approx(sum(cross_entropy) / 3, rel=1e-5)

    # Step 2: debiased with p = (7/12, 5/12): q_k p_k^-0.4, so (0.52, 0.48) now becomes class 1.
    weak = as_logits([[0.52, 0.48], [0.9, 0.1]])
    pl = method.pseudo_label(weak, weak, torch.arange(2), step=1)
    debiased = [0.52 * prior[0] ** -0.4, 0.48 * prior[1] ** -0.4]
    assert debiased[1] > debiased[0]
    assert pl.labels.tolist() == [1, 0]
    assert pl.mask.tolist() == [False, True]  # 0.9 * (7/12)^-0.4 / (...) = 0.887 >= 0.75
    assert method.class_prior.tolist() == pytest.approx([0.5 * prior[0] + 0.5 * 0.71, 0.5 * prior[1] + 0.5 * 0.29])


def test_prior_converges_to_imbalanced_pseudo_label_frequencies(make_method):
    method = make_method("debiaspl", 3, 10, {"debiaspl": {"tau": 0.4, "ema_decay": 0.9}})
    classes = torch.tensor([0] * 6 + [1] * 3 + [2])  # frequencies 0.6, 0.3, 0.1
    confident = 20.0 * torch.nn.functional.one_hot(classes, 3).float()
    for step in range(200):
        pl = method.pseudo_label(confident, confident, torch.arange(10), step)
    assert method.class_prior.tolist() == pytest.approx([0.6, 0.3, 0.1], abs=1e-6)
    assert torch.equal(pl.labels, classes)  # confident labels stay as they are
    # On a borderline sample the debiased label is no longer FixMatch's argmax.
    borderline = torch.tensor([[0.45, 0.40, 0.15]]).log()
    fixmatch = make_method("fixmatch", 3, 10, {"threshold": 0.5}).pseudo_label(borderline, borderline, torch.arange(1), 0)
    method.threshold = 0.5
    debiased = method.pseudo_label(borderline, borderline, torch.arange(1), step=200)
    assert fixmatch.labels.tolist() == [0] and debiased.labels.tolist() == [1]
    # Its debiased confidence 0.40 * 0.3^-0.4 / sum_k q_k p_k^-0.4 = 0.648 / 1.577 = 0.411 < 0.5.
    assert not debiased.mask.any()


def test_without_debiasing_it_is_fixmatch(make_method):
    g = torch.Generator().manual_seed(0)
    weak, strong = 3 * torch.randn(16, 5, generator=g), 3 * torch.randn(16, 5, generator=g)
    debias = make_method("debiaspl", 5, 16, {"debiaspl": {"tau": 0.0, "ema_decay": 0.5}})
    fixmatch = make_method("fixmatch", 5, 16)
    for step in range(3):
        got, want = debias.pseudo_label(weak, strong, torch.arange(16), step), fixmatch.pseudo_label(weak, strong, torch.arange(16), step)
        assert torch.equal(got.labels, want.labels) and torch.equal(got.mask, want.mask)
        assert torch.equal(debias.unlabeled_loss(strong, got), fixmatch.unlabeled_loss(strong, want))
