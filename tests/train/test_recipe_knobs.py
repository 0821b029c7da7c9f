"""Issue 10's recipe knobs: each default is the old behaviour, each alternative does what it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from fixclr import config as fold_config
from fixclr.augment import flip_and_translate
from fixclr.data.loader import StepSampler
from fixclr.engine import parameter_groups
from fixclr.models import SSLNet, SmallCNN
from fixclr.train import run_fold

LABELED, UNLABELED = [30, 20, 25], [40, 70, 50]


def _domain_of(index: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    return torch.bucketize(index, torch.tensor(sizes).cumsum(0), right=True)


def test_balanced_unlabeled_batches_cover_each_domain_equally_and_once_per_epoch():
    sampler = StepSampler(3, LABELED, sum(UNLABELED), 6, 2, unlabeled_sizes=UNLABELED)  # 12 unlabeled per step
    drawn = torch.cat([sampler.indices(step).unlabeled_index for step in range(20)])
    domains = _domain_of(drawn, UNLABELED)
    assert torch.bincount(domains).tolist() == [80, 80, 80]
    assert sorted(drawn[domains == 0][:40].tolist()) == list(range(40))  # a permutation of domain 0


def test_balanced_unlabeled_batch_is_a_function_of_the_step_and_ranks_slice_it():
    whole = StepSampler(3, LABELED, sum(UNLABELED), 8, 3, unlabeled_sizes=UNLABELED)
    for step in (0, 7):
        ranks = [StepSampler(3, LABELED, sum(UNLABELED), 8, 3, rank=r, world=4, unlabeled_sizes=UNLABELED).indices(step)
                 for r in range(4)]
        assert torch.equal(torch.cat([r.unlabeled_index for r in ranks]), whole.indices(step).unlabeled_index)
    with pytest.raises(ValueError, match="balanced unlabeled"):
        StepSampler(3, LABELED, 999, 8, 3, unlabeled_sizes=UNLABELED)


def test_default_unlabeled_batch_is_the_pooled_stream():
    assert torch.equal(StepSampler(3, LABELED, 160, 8, 2).indices(4).unlabeled_index,
                       StepSampler(3, LABELED, 160, 8, 2, unlabeled_sizes=None).indices(4).unlabeled_index)


def test_parameter_groups_exclude_norms_and_biases_only_when_asked():
    model = SSLNet(SmallCNN(4), 10, "projection", 8)
    everything = parameter_groups(model, 5e-4, True)
    assert len(everything) == 1 and len(everything[0]["params"]) == len(list(model.parameters()))
    decayed, free = parameter_groups(model, 5e-4, False)
    norm_bias = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    norm_bias |= {id(m.bias) for m in model.modules() if isinstance(m, nn.Linear) and m.bias is not None}
    assert {id(p) for p in free["params"]} == norm_bias and free["weight_decay"] == 0.0
    assert decayed["weight_decay"] == 5e-4 and all(p.dim() == 4 or p.dim() == 2 for p in decayed["params"])


def test_small_cnn_default_and_four_block_layouts():
    convs = lambda net: [m for m in net.modules() if isinstance(m, nn.Conv2d)]  # noqa: E731
    default = SmallCNN(16)
    assert [c.out_channels for c in convs(default)] == [16, 16, 32, 32, 64, 64] and default.out_dim == 64
    torch.manual_seed(0)
    a = SmallCNN(8)
    torch.manual_seed(0)
    b = SmallCNN(8, stages=3, convs=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    four = SmallCNN(16, stages=4, convs=1)
    assert [c.out_channels for c in convs(four)] == [16, 32, 64, 128] and four.out_dim == 128
    assert four(torch.rand(2, 3, 32, 32)).shape == (2, 128)


def test_replicate_padding_repeats_the_edge_pixel():
    image = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).expand(1, 3, 4, 4).contiguous()
    u = torch.zeros(1, 10)  # shift -max_shift on both axes: pixels come in at the top left
    reflect = flip_and_translate(image, u, False, 2, "reflect")[0, 0]
    replicate = flip_and_translate(image, u, False, 2, "replicate")[0, 0]
    assert replicate[:3, :3].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert reflect[0, :3].tolist() == [10, 9, 8]  # rows/cols -2, -1, 0 reflected to 2, 1, 0
    assert torch.equal(flip_and_translate(image, u, False, 2)[0, 0], reflect)  # reflect is the default


@pytest.mark.parametrize("override, message", [
    ("crop_padding=zeros", "must be one of reflect, replicate"), ("cnn_stages=6", "must be in [1, 5]"),
    ("cnn_convs_per_stage=0", "must be >= 1"), ("unlabeled_balanced=1", "true or false"),
    ("weight_decay_norm_bias=2", "true or false"),
])
def test_bad_knob_values_are_one_line_errors(override, message):
    required = ["manifest=m", "split=s", "target_domain=t", "out_dir=o"]
    with pytest.raises(fold_config.ConfigError, match=message.replace("[", r"\[")):
        fold_config.resolve(None, required + [override])


def test_every_knob_trains_a_fold(fold_cfg):
    knobs = {"weight_decay_norm_bias": False, "unlabeled_balanced": True, "cnn_stages": 4, "cnn_convs_per_stage": 1,
             "crop_padding": "replicate"}
    result = run_fold({**fold_cfg, **knobs})
    assert 0.0 <= result["acc_last"] <= 100.0
    record = json.loads(Path(fold_cfg["out_dir"], "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == fold_cfg["steps"] and record["mask_rate"] is not None
