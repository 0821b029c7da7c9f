"""Two gloo ranks on CPU, each with half of every batch, reach the statistics of one process.

Every registered SSL method is walked (the stateless ones too: their outputs must not depend on
the rank either).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fixclr.methods import METHODS

WORLD_SIZE, LOCAL_BATCH, STEPS = 2, 5, 3
NUM_CLASSES, NUM_UNLABELED = 4, 40
NAMES = [name for name in METHODS.names() if METHODS.get(name).uses_unlabeled]


def _global_batches():
    """Every step's whole (both ranks') weak logits, strong logits and unlabeled indices."""
    g = torch.Generator().manual_seed(1)
    n = WORLD_SIZE * LOCAL_BATCH
    return [
        (3 * torch.randn(n, NUM_CLASSES, generator=g), 3 * torch.randn(n, NUM_CLASSES, generator=g),
         torch.randperm(NUM_UNLABELED, generator=g)[:n])
        for _ in range(STEPS)
    ]


def _run(cfg: dict, part: slice) -> dict:
    """Each method's per-step (labels, weight, mask) on ``part`` of every batch, and final state."""
    results = {}
    for name in NAMES:
        method = METHODS.get(name)(cfg, NUM_CLASSES, NUM_UNLABELED)
        outputs = []
        for step, (weak, strong, idx) in enumerate(_global_batches()):
            pl = method.pseudo_label(weak[part], strong[part], idx[part], step)
            outputs.append((pl.labels, pl.weight, pl.mask))
        results[name] = (outputs, method.state_dict())
    return results


def _worker(rank: int, init_file: str, out_dir: str, cfg: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        torch.save(_run(cfg, part), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_compute_what_one_process_computes(tmp_path, method_config):
    method_config.update(threshold=0.7)
    method_config["freematch"]["ema_decay"] = 0.5
    method_config["softmatch"]["ema_decay"] = 0.5
    method_config["debiaspl"]["ema_decay"] = 0.5
    init_file = str(tmp_path / "init")
    mp.spawn(_worker, args=(init_file, str(tmp_path), method_config), nprocs=WORLD_SIZE, join=True)
    single = _run(method_config, slice(None))
    for rank in range(WORLD_SIZE):
        per_rank = torch.load(tmp_path / f"rank{rank}.pt")
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        for name in NAMES:
            outputs, state = per_rank[name]
            single_outputs, single_state = single[name]
            for key, value in single_state.items():
                torch.testing.assert_close(state[key], value, msg=f"{name} {key} rank {rank}")
            for step, (got, expected) in enumerate(zip(outputs, single_outputs, strict=True)):
                for got_tensor, expected_tensor in zip(got, expected, strict=True):
                    torch.testing.assert_close(
                        got_tensor, expected_tensor[part], msg=f"{name} step {step} rank {rank}"
                    )
    assert (single["flexmatch"][1]["learning_status"] >= 0).sum() > 0
    assert not torch.allclose(single["debiaspl"][1]["class_prior"], torch.full((NUM_CLASSES,), 1 / NUM_CLASSES))
    assert not torch.equal(single["softmatch"][1]["prob_mean"], torch.full((NUM_CLASSES,), 1 / NUM_CLASSES))
