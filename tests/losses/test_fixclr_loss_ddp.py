"""Two gloo ranks on CPU: DDP-averaged gradients of the FixCLR loss equal the one-process gradient."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from fixclr.losses import fixclr_loss

WORLD_SIZE = 2
LOCAL_BATCH = 6
VARIANTS = [(False, "class"), (False, "instance"), (True, "class")]


def _full_batch():
    """Inputs, labels and validity of the concatenated global batch (both ranks' parts)."""
    g = torch.Generator().manual_seed(0)
    n = WORLD_SIZE * LOCAL_BATCH
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    valid = torch.rand(n, generator=g) > 0.2
    return x, labels, valid


def _cases():
    """(name, labels, valid) cases: ordinary, rank 1 without any local anchor, no anchor at all."""
    x, labels, valid = _full_batch()
    rank1_invalid = valid.clone()
    rank1_invalid[LOCAL_BATCH:] = False
    return x, [
        ("ordinary", labels, valid),
        ("rank1_has_no_anchor", labels, rank1_invalid),
        ("no_anchor_anywhere", labels, torch.zeros_like(valid)),
    ]


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(5, 4).double()


def _gradients(model, x, labels, valid, attract, negatives):
    """Loss and parameter gradients of one step of the FixCLR loss on the (local) batch."""
    model.zero_grad()
    loss = fixclr_loss(F.normalize(model(x), dim=1), labels, valid, 0.2, attract, negatives)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        model = torch.nn.parallel.DistributedDataParallel(_model())
        x, cases = _cases()
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        results = {}
        for name, labels, valid in cases:
            for attract, negatives in VARIANTS:
                results[(name, attract, negatives)] = _gradients(
                    model, x[part], labels[part], valid[part], attract, negatives
                )
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_rank_gradients_equal_single_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    per_rank = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    model = _model()
    x, cases = _cases()
    for name, labels, valid in cases:
        for attract, negatives in VARIANTS:
            key = (name, attract, negatives)
            single_loss, single_grad = _gradients(model, x, labels, valid, attract, negatives)
            for rank_results in per_rank:  # DDP already averaged the gradients over ranks
                for rank_grad, grad in zip(rank_results[key][1], single_grad, strict=True):
                    torch.testing.assert_close(rank_grad, grad, atol=1e-6, rtol=0, msg=str(key))
            mean_loss = sum(r[key][0] for r in per_rank) / WORLD_SIZE
            torch.testing.assert_close(mean_loss, single_loss, atol=1e-6, rtol=0, msg=str(key))
            if name == "ordinary":
                assert single_grad[0].abs().sum() > 0.1, key
