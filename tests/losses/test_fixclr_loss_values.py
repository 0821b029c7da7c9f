"""FixCLR loss values against hand-computed numbers and loop-computed textbook definitions."""

from __future__ import annotations

import math

import pytest
import torch

from fixclr.losses import fixclr_loss

torch.set_num_threads(1)


def _tensor(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_repel_only_matches_hand_computed_value():
    # Four unit vectors in 2-D; sample 4 is invalid (unlabeled, below threshold).
    z = _tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8], [0.8, 0.6]])
    labels = torch.tensor([0, 0, 1, 1, 0])
    valid = torch.tensor([True, True, True, True, False])
    t = 0.5
    # anchor 0 (class 0): negatives 2 (dot -1) and 3 (dot 0.6)
    # anchor 1 (class 0): negatives 2 (dot 0) and 3 (dot 0.8)
    # anchor 2 (class 1): negatives 0 (dot -1) and 1 (dot 0)
    # anchor 3 (class 1): negatives 0 (dot 0.6) and 1 (dot 0.8)
    expected = (
        math.log(math.exp(-2.0) + math.exp(1.2))
        + math.log(math.exp(0.0) + math.exp(1.6))
        + math.log(math.exp(-2.0) + math.exp(0.0))
        + math.log(math.exp(1.2) + math.exp(1.6))
    ) / 4
    assert fixclr_loss(z, labels, valid, t).item() == pytest.approx(expected, abs=1e-12)


def test_anchor_without_negative_is_left_out():
    z = _tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # Only one valid sample of class 1 and one of class 0 have negatives; sample 2 is invalid.
    labels = torch.tensor([0, 1, 0])
    valid = torch.tensor([True, True, False])
    expected = (math.log(math.exp(0.0)) + math.log(math.exp(0.0))) / 2
    assert fixclr_loss(z, labels, valid, 0.1).item() == pytest.approx(expected, abs=1e-12)
    one_class = fixclr_loss(z, torch.tensor([0, 0, 0]), torch.ones(3, dtype=torch.bool), 0.1)
    assert one_class.item() == 0.0


def _random_batch(n=12, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, classes, (n,), generator=g)
    labels[-1] = classes  # a singleton class: an anchor with negatives but no positives
    valid = torch.rand(n, generator=g) > 0.25
    valid[-1] = True
    return z, labels, valid


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def test_supcon_variant_matches_textbook_loop():
    z, labels, valid = _random_batch()
    t = 0.2
    rows, ys, ok = z.tolist(), labels.tolist(), valid.tolist()
    per_anchor = []
    for i in range(len(rows)):
        if not ok[i]:
            continue
        others = [a for a in range(len(rows)) if a != i and ok[a]]
        positives = [p for p in others if ys[p] == ys[i]]
        if not positives:
            continue
        denominator = sum(math.exp(_dot(rows[i], rows[a]) / t) for a in others)
        terms = [math.log(math.exp(_dot(rows[i], rows[p]) / t) / denominator) for p in positives]
        per_anchor.append(-sum(terms) / len(positives))
    expected = sum(per_anchor) / len(per_anchor)
    got = fixclr_loss(z, labels, valid, t, attract=True).item()
    assert got == pytest.approx(expected, rel=1e-10)


def test_instance_variant_matches_textbook_loop():
    z, labels, valid = _random_batch(seed=1)
    t = 0.3
    rows, ok = z.tolist(), valid.tolist()
    per_anchor = []
    for i in range(len(rows)):
        others = [j for j in range(len(rows)) if j != i and ok[j]]
        if ok[i] and others:
            per_anchor.append(math.log(sum(math.exp(_dot(rows[i], rows[j]) / t) for j in others)))
    expected = sum(per_anchor) / len(per_anchor)
    got = fixclr_loss(z, labels, valid, t, negatives="instance").item()
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("attract,negatives", [(False, "class"), (False, "instance"), (True, "class")])
def test_invariant_to_permuting_the_batch(attract, negatives):
    z, labels, valid = _random_batch(n=20, seed=2)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(3))
    base = fixclr_loss(z, labels, valid, 0.2, attract, negatives)
    permuted = fixclr_loss(z[perm], labels[perm], valid[perm], 0.2, attract, negatives)
    assert permuted.item() == pytest.approx(base.item(), rel=1e-12)


def _same_class_pair_batch(angle):
    """Class 0 = {a, b} whose mutual angle is ``angle``; every cross-class dot product is fixed."""
    h = 0.4
    r = math.sqrt(1 - h * h)
    a = [r, 0.0, h]
    b = [r * math.cos(angle), r * math.sin(angle), h]
    return _tensor([a, b, [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), torch.tensor([0, 0, 1, 1])


def test_same_class_pairs_are_neither_pulled_nor_pushed():
    valid = torch.ones(4, dtype=torch.bool)
    z_close, labels = _same_class_pair_batch(0.3)
    z_far, _ = _same_class_pair_batch(2.5)
    assert _dot(z_close[0], z_close[1]) != pytest.approx(_dot(z_far[0], z_far[1]))
    repel_close = fixclr_loss(z_close, labels, valid, 0.2)
    repel_far = fixclr_loss(z_far, labels, valid, 0.2)
    assert repel_far.item() == pytest.approx(repel_close.item(), abs=1e-12)
    # The same change moves the variants that do use same-class pairs.
    for kwargs in ({"attract": True}, {"negatives": "instance"}):
        assert fixclr_loss(z_far, labels, valid, 0.2, **kwargs).item() != pytest.approx(
            fixclr_loss(z_close, labels, valid, 0.2, **kwargs).item()
        )


def test_invalid_samples_take_no_part():
    z, labels, valid = _random_batch(seed=4)
    base = fixclr_loss(z, labels, valid, 0.2).item()
    changed_z, changed_labels = z.clone(), labels.clone()
    changed_z[~valid] = -changed_z[~valid]
    changed_labels[~valid] = 0
    assert fixclr_loss(changed_z, changed_labels, valid, 0.2).item() == pytest.approx(base, abs=1e-12)


def _mean_cross_class_cosine(z, labels):
    z = torch.nn.functional.normalize(z, dim=1)
    cross = labels[:, None] != labels[None, :]
    return (z @ z.T)[cross].mean().item()


def test_one_gradient_step_lowers_cross_class_similarity():
    g = torch.Generator().manual_seed(5)
    raw = (torch.randn(32, 8, generator=g) + 2.0).requires_grad_()  # start clustered: high similarity
    labels = torch.randint(0, 4, (32,), generator=g)
    valid = torch.ones(32, dtype=torch.bool)
    before = _mean_cross_class_cosine(raw.detach(), labels)
    loss = fixclr_loss(torch.nn.functional.normalize(raw, dim=1), labels, valid, 0.2)
    loss.backward()
    with torch.no_grad():
        raw -= 5.0 * raw.grad
    after = _mean_cross_class_cosine(raw.detach(), labels)
    assert after < before - 0.01


def test_no_anchor_gives_zero_with_a_gradient():
    z = torch.nn.functional.normalize(torch.randn(6, 4), dim=1).requires_grad_()
    loss = fixclr_loss(z, torch.arange(6), torch.zeros(6, dtype=torch.bool), 0.2)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_small_temperature_is_finite_with_finite_gradient():
    z = torch.nn.functional.normalize(torch.randn(16, 4), dim=1).requires_grad_()
    labels = torch.arange(16) % 3
    valid = torch.arange(16) % 5 != 0
    for kwargs in ({}, {"attract": True}, {"negatives": "instance"}):
        loss = fixclr_loss(z, labels, valid, 1e-3, **kwargs)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
        z.grad = None


def test_bad_arguments_name_the_argument():
    z = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    labels, valid = torch.tensor([0, 1, 0, 1]), torch.ones(4, dtype=torch.bool)
    with pytest.raises(ValueError, match="negatives='pairs'"):
        fixclr_loss(z, labels, valid, 0.2, negatives="pairs")
    with pytest.raises(ValueError, match="attract=True with negatives='instance'"):
        fixclr_loss(z, labels, valid, 0.2, attract=True, negatives="instance")
    with pytest.raises(ValueError, match="temperature"):
        fixclr_loss(z, labels, valid, 0.0)
    with pytest.raises(ValueError, match="labels"):
        fixclr_loss(z, labels.float(), valid, 0.2)
    with pytest.raises(ValueError, match="valid"):
        fixclr_loss(z, labels, valid[:3], 0.2)
    with pytest.raises(ValueError, match="z: expected shape"):
        fixclr_loss(z[0], labels, valid, 0.2)


def test_low_precision_embeddings_are_scored_in_float32():
    z, labels, valid = _random_batch(seed=6)
    low = fixclr_loss(z.to(torch.bfloat16), labels, valid, 0.2)
    assert low.dtype == torch.float32
    reference = fixclr_loss(z.to(torch.bfloat16).to(torch.float64), labels, valid, 0.2)
    assert low.item() == pytest.approx(reference.item(), rel=1e-5)
