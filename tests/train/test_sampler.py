"""The global batch is a pure function of (seed, step); ranks take disjoint slices of it."""

from __future__ import annotations

import pytest
import torch

from fixclr.data.loader import StepSampler

SIZES, UNLABELED = [30, 20, 25], 200


def _sampler(**kwargs) -> StepSampler:
    return StepSampler(**{"seed": 3, "labeled_sizes": SIZES, "unlabeled_size": UNLABELED, "batch_size": 8, "mu": 2,
                          **kwargs})


def test_same_step_same_batch_and_seeds_whatever_the_history():
    fresh, used = _sampler(), _sampler()
    for step in range(5):
        used.indices(step)
    a, b = fresh.indices(5), used.indices(5)
    assert torch.equal(a.labeled_index, b.labeled_index) and torch.equal(a.unlabeled_index, b.unlabeled_index)
    assert all(torch.equal(a.seeds[v], b.seeds[v]) for v in a.seeds)
    other_seed = _sampler(seed=4).indices(5)
    assert not torch.equal(a.unlabeled_index, other_seed.unlabeled_index)


def test_labeled_batches_are_balanced_and_cover_each_domain_once_per_epoch():
    sampler, offsets = _sampler(batch_size=7), [0, 30, 50]
    drawn = torch.cat([sampler.indices(step).labeled_index for step in range(30)])
    per_domain = [((drawn >= lo) & (drawn < lo + n)) for lo, n in zip(offsets, SIZES)]
    counts = [int(m.sum()) for m in per_domain]
    assert counts == [70, 70, 70]  # 7 per step over 3 domains: the extra image rotates
    for lo, n, mask in zip(offsets, SIZES, per_domain):
        first_epoch = drawn[mask][:n]
        assert sorted(first_epoch.tolist()) == list(range(lo, lo + n))  # a permutation: each image once


def test_unlabeled_stream_is_a_sequence_of_permutations():
    sampler = _sampler()
    drawn = torch.cat([sampler.indices(step).unlabeled_index for step in range(25)])  # 25 * 16 = 2 epochs
    assert sorted(drawn[:UNLABELED].tolist()) == list(range(UNLABELED))
    assert sorted(drawn[UNLABELED:].tolist()) == list(range(UNLABELED))


def test_rank_slices_concatenate_to_the_one_rank_batch():
    whole = _sampler().indices(7)
    parts = [_sampler(rank=r, world=2).indices(7) for r in range(2)]
    assert torch.equal(torch.cat([p.labeled_index for p in parts]), whole.labeled_index)
    assert torch.equal(torch.cat([p.unlabeled_index for p in parts]), whole.unlabeled_index)
    for view in whole.seeds:
        assert torch.equal(torch.cat([p.seeds[view] for p in parts]), whole.seeds[view])
    assert len(set(whole.seeds["weak"].tolist()) | set(whole.seeds["strong"].tolist())) == 32


def test_batch_not_divisible_by_world_size_is_refused():
    with pytest.raises(ValueError, match="must divide by the world size 3"):
        _sampler(world=3)
