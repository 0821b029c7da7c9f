"""FlexMatch's learning status, class thresholds and masks against hand-computed values."""

from __future__ import annotations

import pytest
import torch

UNUSED = -1


def feed(method, as_logits, idx, rows):
    """One pseudo-labelling step on the batch ``rows`` (weak-view probabilities) at ``idx``."""
    logits = as_logits(rows)
    return method.pseudo_label(logits, logits, torch.tensor(idx), step=0)


def test_thresholds_with_warmup_follow_the_learning_status(make_method, as_logits):
    method = make_method("flexmatch", 3, 4, {"threshold": 0.9})
    assert method.class_thresholds().tolist() == [0.0, 0.0, 0.0]

    # Step 1: every threshold is 0, so all samples are trusted; 0 and 1 are confident class 0,
    # 2 is confident class 1.
    pl = feed(method, as_logits, [0, 1, 2], [[0.95, 0.03, 0.02], [0.92, 0.05, 0.03], [0.02, 0.96, 0.02]])
    assert pl.labels.tolist() == [0, 0, 1]
    assert pl.mask.tolist() == [True, True, True]
    assert pl.weight.tolist() == [1.0, 1.0, 1.0]
    assert method.learning_status.tolist() == [0, 0, 1, UNUSED]
    # sigma = (2, 1, 0), one unused sample: beta = sigma / max(2, 1) = (1, 1/2, 0).
    assert method.class_learning_effect().tolist() == pytest.approx([1.0, 0.5, 0.0])
    # threshold * beta / (2 - beta)
    assert method.class_thresholds().tolist() == pytest.approx([0.9 * 1 / 1, 0.9 * 0.5 / 1.5, 0.0])

    # Step 2: sample 3 is class 0 at 0.85 < 0.9 (rejected); sample 0 is now class 2 at 0.55
    # (threshold 0: trusted, not confident, status kept); sample 1 is class 1 at 0.97 >= 0.3.
    pl = feed(method, as_logits, [3, 0, 1], [[0.85, 0.1, 0.05], [0.2, 0.25, 0.55], [0.02, 0.97, 0.01]])
    assert pl.labels.tolist() == [0, 2, 1]
    assert pl.mask.tolist() == [False, True, True]
    assert pl.weight.tolist() == [0.0, 1.0, 1.0]
    assert method.learning_status.tolist() == [0, 1, 1, UNUSED]
    assert method.class_thresholds().tolist() == pytest.approx([0.9 * 0.5 / 1.5, 0.9, 0.0])

    # Step 3: class 0 at 0.6 >= 0.3 trusted; class 1 at 0.8 < 0.9 rejected; sample 0 confident class 2.
    pl = feed(method, as_logits, [2, 3, 0], [[0.6, 0.35, 0.05], [0.1, 0.8, 0.1], [0.01, 0.01, 0.98]])
    assert pl.mask.tolist() == [True, False, True]
    assert method.learning_status.tolist() == [2, 1, 1, UNUSED]
    assert method.class_thresholds().tolist() == pytest.approx([0.0, 0.9, 0.9 * 0.5 / 1.5])


@pytest.mark.parametrize(
    "warmup, expected_beta",
    [(True, [2 / 7, 1 / 7, 0.0]), (False, [1.0, 1 / 2, 0.0])],
)
def test_warmup_divides_by_the_unused_count_while_it_dominates(make_method, as_logits, warmup, expected_beta):
    method = make_method("flexmatch", 3, 10, {"threshold": 0.9, "flexmatch": {"warmup": warmup}})
    feed(method, as_logits, [4, 7, 9], [[0.97, 0.02, 0.01], [0.96, 0.02, 0.02], [0.01, 0.98, 0.01]])
    # sigma = (2, 1, 0) and 7 unused samples.
    assert method.class_learning_effect().tolist() == pytest.approx(expected_beta)
    expected_thresholds = [0.9 * b / (2 - b) for b in expected_beta]
    assert method.class_thresholds().tolist() == pytest.approx(expected_thresholds)
    if warmup:
        assert expected_thresholds == pytest.approx([0.9 / 6, 0.9 / 13, 0.0])


def test_no_warmup_and_nothing_learned_gives_zero_thresholds(make_method):
    method = make_method("flexmatch", 3, 5, {"flexmatch": {"warmup": False}})
    assert method.class_thresholds().tolist() == [0.0, 0.0, 0.0]
