"""DeFixMatch's supervised and debiasing terms against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from fixclr.methods import METHODS


def test_labeled_terms_of_one_step(make_method, as_logits):
    method = make_method("defixmatch", 2, 10, {"threshold": 0.7})
    assert METHODS.get("defixmatch").uses_labeled_strong and not METHODS.get("fixmatch").uses_labeled_strong
    weak = as_logits([[0.8, 0.2], [0.6, 0.4], [0.1, 0.9]]).requires_grad_(True)
    strong = as_logits([[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]]).requires_grad_(True)
    targets = torch.tensor([0, 1, 1])
    supervised, debias = method.labeled_losses(weak, strong, targets, step=0)
    # Supervised: the mean of the weak and strong views' cross-entropies with the true labels.
    ce_weak = -(math.log(0.8) + math.log(0.4) + math.log(0.9)) / 3
    ce_strong = -(math.log(0.7) + math.log(0.5) + math.log(0.8)) / 3
    assert supervised.item() == pytest.approx((ce_weak + ce_strong) / 2, rel=1e-6)
    # Debiasing: pseudo-labels 0, 0, 1 from the weak views, trusted at 0.8 and 0.9 (not 0.6);
    # their strong-view cross-entropy, over the 3 labeled images, enters with a minus sign.
    assert debias.item() == pytest.approx((math.log(0.7) + math.log(0.8)) / 3, rel=1e-6)
    # The pseudo-labels are targets: the debiasing term's gradient reaches the strong views only.
    (weak_grad,) = torch.autograd.grad(debias, weak, allow_unused=True)
    assert weak_grad is None
    (strong_grad,) = torch.autograd.grad(debias, strong)
    assert strong_grad[1].abs().sum() == 0 and strong_grad[0].abs().sum() > 0  # untrusted sample 1: no gradient


def test_the_strong_view_weight_is_a_setting(make_method, as_logits):
    method = make_method("defixmatch", 2, 10, {"defixmatch": {"labeled_strong_weight": 0.0}})
    weak, strong = as_logits([[0.8, 0.2]]), as_logits([[0.3, 0.7]])
    supervised, _ = method.labeled_losses(weak, strong, torch.tensor([0]), step=0)
    assert supervised.item() == pytest.approx(-math.log(0.8), rel=1e-6)  # FixMatch's supervised loss


def test_unlabeled_pseudo_labels_are_fixmatchs(make_method):
    g = torch.Generator().manual_seed(0)
    weak, strong = 3 * torch.randn(16, 5, generator=g), 3 * torch.randn(16, 5, generator=g)
    got = make_method("defixmatch", 5, 16).pseudo_label(weak, strong, torch.arange(16), step=0)
    want = make_method("fixmatch", 5, 16).pseudo_label(weak, strong, torch.arange(16), step=0)
    assert torch.equal(got.labels, want.labels) and torch.equal(got.mask, want.mask)


def test_without_the_strong_labeled_view_it_refuses(make_method, as_logits):
    with pytest.raises(ValueError, match="strong views"):
        make_method("defixmatch", 2, 10).labeled_losses(as_logits([[0.5, 0.5]]), None, torch.tensor([0]), step=0)
