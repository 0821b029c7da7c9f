"""Where a fold's uint8 batches come from: device memory (``memory`` mode) or the shards (``stream`` mode).

Both sources give the trainer the same thing: ``step(s)`` returns this rank's StepIndices of the
global batch of step s (on the device) with its labeled and unlabeled uint8 images (N, 3, H, W),
and ``eval_chunks(part, size)`` yields this rank's share of an evaluation part (every
``world``-th image) in chunks. In stream mode a ``torch.utils.data.DataLoader`` reads them from
the shards in worker processes, ``prefetch`` steps ahead, with pinned memory on CUDA: host memory
holds a few batches, never the dataset. The batch of step s is a pure function of (seed, s) in
both modes, so they train identically and a resumed run reads the same batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from fixclr.data.hdf5 import DomainImages

MODES = ("auto", "memory", "stream")


class PooledRows:
    """Images of one fold part pooled over domains: ``read(indices)`` -> uint8 (n, 3, H, W) in request order."""

    def __init__(self, sets: list[DomainImages]):
        self.sets = sets
        self.offsets = np.cumsum([0] + [len(s) for s in self.sets])
        self.labels = np.concatenate([s.labels for s in self.sets]) if self.sets else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def read(self, indices) -> torch.Tensor:
        indices = np.asarray(indices, dtype=np.int64)
        height, width, channels = self.sets[0].image_shape
        images = _new_batch((len(indices), channels, height, width))
        channels_last = images.numpy().transpose(0, 2, 3, 1)  # a view: rows land channels-first
        part = np.searchsorted(self.offsets, indices, side="right") - 1
        for p in np.unique(part):
            where = np.flatnonzero(part == p)
            self.sets[p].read_into(indices[where] - self.offsets[p], channels_last, where)
        return images


def _new_batch(shape: tuple[int, ...]) -> torch.Tensor:
    """An empty uint8 batch; in a DataLoader worker, in shared memory, so handing it to the
    trainer process copies nothing (as torch's default_collate does)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


def _to(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return images.to(device, non_blocking=images.is_pinned())


@dataclass
class StepBatch:
    """What a DataLoader worker delivers for one step: the indices and their uint8 images."""

    step: int
    indices: object  # StepIndices
    labeled: torch.Tensor
    unlabeled: torch.Tensor

    def pin_memory(self) -> "StepBatch":
        return StepBatch(self.step, self.indices, self.labeled.pin_memory(), self.unlabeled.pin_memory())


class _Steps(Dataset):
    """Item s: this rank's slice of the global batch of step s, read from the shards."""

    def __init__(self, sampler, labeled: PooledRows, unlabeled: PooledRows):
        self.sampler, self.labeled, self.unlabeled = sampler, labeled, unlabeled

    def __getitem__(self, step: int) -> StepBatch:
        indices = self.sampler.indices(step)
        unlabeled = (self.unlabeled.read(indices.unlabeled_index) if len(indices.unlabeled_index)
                     else torch.empty(0, dtype=torch.uint8))
        return StepBatch(step, indices, self.labeled.read(indices.labeled_index), unlabeled)


class _Chunks(Dataset):
    """Item k: chunk k of this rank's share (every ``world``-th image) of a part, with its labels."""

    def __init__(self, rows: PooledRows, rank: int, world: int, size: int):
        self.rows, self.positions, self.size = rows, np.arange(rank, len(rows), world), size

    def __len__(self) -> int:
        return -(-len(self.positions) // self.size)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        where = self.positions[k * self.size:(k + 1) * self.size]
        return self.rows.read(where), torch.from_numpy(self.rows.labels[where])


class MemoryBatches:
    """Batches gathered from the fold's images already on the device."""

    def __init__(self, data, sampler, device: torch.device, rank: int, world: int):
        self.data, self.sampler, self.device, self.rank, self.world = data, sampler, device, rank, world

    def step(self, step: int):
        """(StepIndices on the device, labeled uint8 images, unlabeled uint8 images) of ``step``."""
        indices = self.sampler.indices(step).to(self.device)
        return (indices, self.data.labeled.images[indices.labeled_index],
                self.data.unlabeled.images[indices.unlabeled_index])

    def eval_chunks(self, part, size: int):
        """This rank's share of ``part`` in chunks of ``size``: (uint8 images, labels) on the device."""
        images, labels = part.images[self.rank::self.world], part.labels[self.rank::self.world]
        for start in range(0, len(labels), size):
            yield images[start:start + size], labels[start:start + size]


class StreamBatches(MemoryBatches):
    """Batches read from the shards by a DataLoader, ``prefetch`` steps ahead of the trainer."""

    def __init__(self, data, sampler, device: torch.device, rank: int, world: int, steps: int,
                 num_workers: int, prefetch: int):
        super().__init__(data, sampler, device, rank, world)
        self.steps, self.loader_options = steps, {"num_workers": num_workers, "pin_memory": device.type == "cuda"}
        if num_workers:
            self.loader_options.update(prefetch_factor=prefetch, persistent_workers=False)
        self._batches, self._next = None, None

    def _loader(self, dataset: Dataset, items) -> DataLoader:
        options = dict(self.loader_options)
        if len(items) < 2:  # no read-ahead to gain: read in this process, start no worker
            options = {"pin_memory": options["pin_memory"]}
        return DataLoader(dataset, batch_size=None, sampler=items, collate_fn=_identity, **options)

    def step(self, step: int):
        if self._next != step:  # first step, or a resume / jump: restart the reading at this step
            steps = _Steps(self.sampler, self.data.labeled.rows, self.data.unlabeled.rows)
            self._batches = iter(self._loader(steps, range(step, self.steps)))
        batch = next(self._batches)
        self._next = step + 1
        return batch.indices.to(self.device), _to(batch.labeled, self.device), _to(batch.unlabeled, self.device)

    def eval_chunks(self, part, size: int):
        chunks = _Chunks(part.rows, self.rank, self.world, size)
        for images, labels in self._loader(chunks, range(len(chunks))):
            yield _to(images, self.device), _to(labels, self.device)


def batch_source(cfg: dict, data, sampler, device: torch.device) -> MemoryBatches:
    """The batch source of a fold: StreamBatches in stream mode, else MemoryBatches (this rank's slices)."""
    from fixclr.distributed import rank, world_size

    if data.mode == "stream":
        return StreamBatches(data, sampler, device, rank(), world_size(), cfg["steps"], cfg["num_workers"],
                             cfg["prefetch"])
    return MemoryBatches(data, sampler, device, rank(), world_size())


def _identity(item):
    return item


def host_memory_bytes() -> int:
    """Physical memory of this node (or of the cgroup it runs in, when lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def ranks_on_this_node() -> int:
    """Ranks sharing this node's memory (torchrun's or SLURM's count; 1 alone)."""
    for key in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(key, "").split("(")[0]
        if value.isdigit():
            return max(1, int(value))
    return 1


# What memory mode costs, per byte of the fold's uint8 images: its peak RSS grows about 1.9x the
# added image bytes (the reader's uint8 array and the channels-first tensor made from it coexist
# while a part loads), and the device holds one copy.
HOST_COPIES, DEVICE_COPIES = 2, 1


def fold_image_bytes(count: int, height: int, width: int, channels: int = 3) -> int:
    """Bytes of ``count`` uint8 images of ``height x width x channels`` (a fold's images decoded)."""
    return count * height * width * channels


def memory_budgets(fraction: float, device: torch.device) -> dict[str, int]:
    """Bytes memory mode may take: ``fraction`` of this rank's share of the node's host memory and,
    on CUDA, of the device's memory."""
    budgets = {"host": int(fraction * host_memory_bytes() / ranks_on_this_node())}
    if device.type == "cuda":
        budgets["device"] = int(fraction * torch.cuda.get_device_properties(device).total_memory)
    return budgets


def mode_for(image_bytes: int, budgets: dict[str, int]) -> tuple[str, str]:
    """``memory`` when memory mode's cost of ``image_bytes`` (HOST_COPIES on the host, DEVICE_COPIES
    on the device) fits every budget, else ``stream``; and the figures as one log line."""
    copies = {"host": HOST_COPIES, "device": DEVICE_COPIES}
    costs = {where: copies[where] * image_bytes for where in budgets}
    chosen = "memory" if all(costs[where] <= budget for where, budget in budgets.items()) else "stream"
    figures = "; ".join(f"{where} {copies[where]}x = {_mib(costs[where])} MiB {'<=' if costs[where] <= budget else '>'} "
                        f"budget {_mib(budget)} MiB" for where, budget in budgets.items())
    return chosen, f"{chosen}: fold images {_mib(image_bytes)} MiB; memory mode would take {figures}"


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def choose_mode(mode: str, image_bytes: int, fraction: float, device: torch.device) -> tuple[str, str]:
    """``memory`` or ``stream`` for a fold of ``image_bytes``, and the reason (one log line).

    ``auto`` applies ``mode_for`` to ``memory_budgets(fraction, device)``.
    """
    if mode != "auto":
        return mode, f"data_mode: {mode}"
    chosen, why = mode_for(image_bytes, memory_budgets(fraction, device))
    return chosen, f"data_mode auto: {why} (budgets: data_memory_fraction {fraction:g} of the memory per rank)"
