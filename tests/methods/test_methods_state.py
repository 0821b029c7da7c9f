"""Every SSL method: registered, statistics in ``state_dict``, and a checkpoint round-trip resumes exactly.

The methods come from the live registry: a new method must declare its buffers in ``STATEFUL``.
"""

from __future__ import annotations

import io

import pytest
import torch

from fixclr.methods import METHODS

NUM_CLASSES, NUM_UNLABELED, BATCH = 4, 20, 8
SSL_METHODS = [name for name in METHODS.names() if METHODS.get(name).uses_unlabeled]
STATEFUL = {
    "fixmatch": set(),
    "defixmatch": set(),
    "flexmatch": {"learning_status"},
    "freematch": {"global_threshold", "class_confidence", "label_histogram"},
    "softmatch": {"confidence_mean", "confidence_var", "prob_mean", "prob_mean_set"},
    "debiaspl": {"class_prior"},
}
# Small decays so that a few updates move the statistics far from their initial values.
FAST = {
    "threshold": 0.6,
    "freematch": {"ema_decay": 0.5},
    "softmatch": {"ema_decay": 0.5},
    "debiaspl": {"ema_decay": 0.5},
}


def batches(count: int):
    """``count`` reproducible (weak logits, strong logits, idx) unlabeled batches."""
    g = torch.Generator().manual_seed(0)
    for _ in range(count):
        weak = 3 * torch.randn(BATCH, NUM_CLASSES, generator=g)
        strong = 3 * torch.randn(BATCH, NUM_CLASSES, generator=g)
        idx = torch.randperm(NUM_UNLABELED, generator=g)[:BATCH]
        yield weak, strong, idx


def test_every_ssl_method_declares_its_state():
    assert set(STATEFUL) == set(SSL_METHODS)
    assert {"flexmatch", "freematch", "softmatch", "defixmatch", "debiaspl"} <= set(METHODS.names())


def _losses(method, weak, strong, pl):
    """Every loss term the loop asks of ``method`` (labeled ones with the batch as labeled images)."""
    targets = weak.argmax(dim=1).roll(1)
    labeled_strong = strong if method.uses_labeled_strong else None
    supervised, labeled_term = method.labeled_losses(weak, labeled_strong, targets, step=2)
    return supervised, labeled_term, method.unlabeled_loss(strong, pl), method.extra_loss(strong, pl)


@pytest.mark.parametrize("name", SSL_METHODS)
def test_checkpoint_round_trip_resumes_identically(make_method, name):
    method = make_method(name, NUM_CLASSES, NUM_UNLABELED, FAST)
    initial = {key: value.clone() for key, value in method.state_dict().items()}
    assert set(initial) == STATEFUL[name]
    first, second, third = batches(3)
    for step, batch in enumerate((first, second)):
        method.pseudo_label(*batch, step=step)
    changed = [key for key, value in method.state_dict().items() if not torch.equal(value, initial[key])]
    assert sorted(changed) == sorted(STATEFUL[name])

    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    resumed = make_method(name, NUM_CLASSES, NUM_UNLABELED, FAST)
    resumed.load_state_dict(torch.load(buffer))

    weak, strong, idx = third
    expected = method.pseudo_label(weak, strong, idx, step=2)
    got = resumed.pseudo_label(weak, strong, idx, step=2)
    assert torch.equal(got.labels, expected.labels)
    assert torch.equal(got.weight, expected.weight)
    assert torch.equal(got.mask, expected.mask)
    for got_loss, expected_loss in zip(_losses(resumed, weak, strong, got), _losses(method, weak, strong, expected),
                                       strict=True):
        assert (got_loss is None and expected_loss is None) or torch.equal(got_loss, expected_loss)
    for key, value in method.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
