"""FreeMatch's self-adaptive thresholds, EMAs, masks and fairness loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

SETTINGS = {"freematch": {"ema_decay": 0.5, "fairness_weight": 0.1}}


def test_thresholds_and_emas_after_two_updates(make_method, as_logits):
    method = make_method("freematch", 3, 100, SETTINGS)
    assert method.global_threshold.item() == pytest.approx(1 / 3)
    assert method.class_confidence.tolist() == pytest.approx([1 / 3] * 3)
    assert method.label_histogram.tolist() == pytest.approx([1 / 3] * 3)

    # Step 1: max probs 0.7, 0.6, 0.7, 0.4 (mean 0.6); mean probs (0.4375, 0.275, 0.2875);
    # argmax 0, 0, 2, 1 -> histogram (0.5, 0.25, 0.25).
    weak = as_logits([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.35, 0.4, 0.25]])
    pl = method.pseudo_label(weak, weak, torch.arange(4), step=0)
    tau = 0.5 * (1 / 3) + 0.5 * 0.6
    p = [0.5 * (1 / 3) + 0.5 * 0.4375, 0.5 * (1 / 3) + 0.5 * 0.275, 0.5 * (1 / 3) + 0.5 * 0.2875]
    h = [0.5 * (1 / 3) + 0.5 * 0.5, 0.5 * (1 / 3) + 0.5 * 0.25, 0.5 * (1 / 3) + 0.5 * 0.25]
    assert tau == pytest.approx(7 / 15)
    assert method.global_threshold.item() == pytest.approx(tau)
    assert method.class_confidence.tolist() == pytest.approx(p)
    assert method.label_histogram.tolist() == pytest.approx(h)
    thresholds = [tau * p_c / max(p) for p_c in p]  # MaxNorm(p_t) * tau_t
    assert method.class_thresholds().tolist() == pytest.approx(thresholds)
    assert thresholds == pytest.approx([0.46667, 0.36829, 0.37586], abs=1e-5)
    assert pl.labels.tolist() == [0, 0, 2, 1]
    assert pl.mask.tolist() == [True, True, True, True]  # 0.4 >= 0.368 for class 1

    # Step 2: max probs 0.8, 0.45, 0.6, 0.45 (mean 0.575); mean probs (0.425, 0.2375, 0.3375);
    # argmax 0, 0, 2, 2 -> histogram (0.5, 0, 0.5).
    weak = as_logits([[0.8, 0.1, 0.1], [0.45, 0.35, 0.2], [0.2, 0.2, 0.6], [0.25, 0.3, 0.45]])
    pl = method.pseudo_label(weak, weak, torch.arange(4, 8), step=1)
    tau = 0.5 * tau + 0.5 * 0.575
    p = [0.5 * p[0] + 0.5 * 0.425, 0.5 * p[1] + 0.5 * 0.2375, 0.5 * p[2] + 0.5 * 0.3375]
    h = [0.5 * h[0] + 0.5 * 0.5, 0.5 * h[1], 0.5 * h[2] + 0.5 * 0.5]
    assert method.global_threshold.item() == pytest.approx(tau)
    assert method.class_confidence.tolist() == pytest.approx(p)
    assert method.label_histogram.tolist() == pytest.approx(h)
    thresholds = [tau * p_c / max(p) for p_c in p]
    assert method.class_thresholds().tolist() == pytest.approx(thresholds)
    # class 0 threshold = tau_t = 0.52083: 0.8 passes, 0.45 does not; class 2 threshold 0.41640.
    assert thresholds[0] == pytest.approx(0.5208333)
    assert thresholds[2] == pytest.approx(0.4163989)
    assert pl.labels.tolist() == [0, 0, 2, 2]
    assert pl.mask.tolist() == [True, False, True, True]
    assert pl.weight.tolist() == [1.0, 0.0, 1.0, 1.0]


def sum_normalised(values):
    total = sum(values)
    return [v / total for v in values]


def test_fairness_loss_is_the_extra_term_outside_the_unlabeled_loss(make_method, as_logits):
    method = make_method("freematch", 3, 100, SETTINGS)
    weak = as_logits([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.35, 0.4, 0.25]])
    strong = as_logits([[0.6, 0.3, 0.1], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6], [0.3, 0.5, 0.2]])
    strong.requires_grad_(True)
    pl = method.pseudo_label(weak, strong.detach(), torch.arange(4), step=0)
    assert pl.mask.all()
    # EMAs after the step (see the threshold test): p_t and h_t.
    p = [(1 / 3 + 0.4375) / 2, (1 / 3 + 0.275) / 2, (1 / 3 + 0.2875) / 2]
    h = [(1 / 3 + 0.5) / 2, (1 / 3 + 0.25) / 2, (1 / 3 + 0.25) / 2]
    model_target = sum_normalised([p_c / h_c for p_c, h_c in zip(p, h)])
    # Strong views: argmax 0, 0, 2, 1 -> histogram (0.5, 0.25, 0.25); mean (0.4, 0.3, 0.3);
    # mean / histogram = (0.8, 1.2, 1.2) -> SumNorm = (0.25, 0.375, 0.375).
    batch_target = [0.25, 0.375, 0.375]
    fairness = sum(t * math.log(q + 1e-12) for t, q in zip(model_target, batch_target))
    assert method.fairness_loss(strong, pl.mask).item() == pytest.approx(fairness, rel=1e-5)
    # Pseudo-labels 0, 0, 2, 1 all trusted: CE = -mean(log 0.6, log 0.5, log 0.6, log 0.5).
    cross_entropy = -(2 * math.log(0.6) + 2 * math.log(0.5)) / 4
    assert method.unlabeled_loss(strong, pl).item() == pytest.approx(cross_entropy, rel=1e-5)
    extra = method.extra_loss(strong, pl)  # the loop adds it outside the unlabeled warm-up weight
    assert extra.item() == pytest.approx(0.1 * fairness, rel=1e-5)
    extra.backward()
    assert strong.grad is not None and strong.grad.abs().sum() > 0


def test_fairness_loss_gives_zero_mass_to_a_class_absent_from_the_strong_views(make_method, as_logits):
    method = make_method("freematch", 3, 100, SETTINGS)
    weak = as_logits([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    strong = as_logits([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.3, 0.2]])
    pl = method.pseudo_label(weak, strong, torch.arange(3), step=0)
    assert pl.mask.all()
    p = [(1 / 3 + 1.4 / 3) / 2, (1 / 3 + 0.7 / 3) / 2, (1 / 3 + 0.9 / 3) / 2]
    h = [(1 / 3 + 2 / 3) / 2, (1 / 3 + 0) / 2, (1 / 3 + 1 / 3) / 2]
    model_target = sum_normalised([p_c / h_c for p_c, h_c in zip(p, h)])
    # Strong argmax 0, 2, 0 -> histogram (2/3, 0, 1/3); mean (1.3/3, 0.8/3, 0.9/3);
    # mean / histogram with class 1 absent -> (0.65, 0, 0.9).
    batch_target = sum_normalised([0.65, 0.0, 0.9])
    fairness = sum(t * math.log(q + 1e-12) for t, q in zip(model_target, batch_target))
    assert method.fairness_loss(strong, pl.mask).item() == pytest.approx(fairness, rel=1e-5)


def test_no_trusted_sample_gives_a_zero_fairness_loss(make_method, as_logits):
    method = make_method("freematch", 3, 100, SETTINGS)
    uniform = as_logits([[0.34, 0.33, 0.33], [0.33, 0.34, 0.33]])
    method.global_threshold.fill_(0.9)
    pl = method.pseudo_label(uniform, uniform, torch.arange(2), step=0)
    assert not pl.mask.any()
    assert method.fairness_loss(uniform, pl.mask).item() == 0.0
    assert method.unlabeled_loss(uniform, pl).item() == 0.0
    assert method.extra_loss(uniform, pl).item() == 0.0
