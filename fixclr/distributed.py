"""Process-group helpers that are identities when not running distributed."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of ranks (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def all_gather_nograd(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0, in rank order; no gradient flows."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0; gradients flow back to each rank's own part."""
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()))
