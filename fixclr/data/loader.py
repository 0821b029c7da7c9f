"""Train-time data of one LODO fold: images in memory and batches that are a pure function of (seed, step).

The global batch of step s holds ``batch_size`` labeled images balanced over the source domains
and ``mu * batch_size`` unlabeled images pooled over them (``unlabeled_balanced``: balanced too).
Each stream walks through seeded per-epoch permutations, so the batch of step s is computed from
(seed, s) alone: a checkpoint only needs the step, and every DDP rank computes the same global batch and takes its own slice.
Per-sample augmentation seeds are likewise a function of (seed, step, view, position in the
global batch), so 1 rank and N ranks augment every image identically.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import torch

from fixclr.data import DomainImages, check_split, load_manifest, load_split
from fixclr.data.stamp import check_shards
from fixclr.data.stream import PooledRows, choose_mode, fold_image_bytes
from fixclr.errors import UserError
from fixclr.io import sha256_file

VIEWS = ("labeled", "weak", "strong")  # augmentation streams


class FoldDataError(UserError, ValueError):
    """The fold's config does not fit its manifest or split file."""


@dataclass
class ImageSet:
    """Images (N, 3, H, W) uint8 and labels (N,) int64 of one part of the data."""

    images: torch.Tensor | None  # None in stream mode: the images stay in the shards
    labels: torch.Tensor
    rows: PooledRows | None = None  # stream mode: reader of the images from the shards

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "ImageSet":
        images = self.images.to(device) if self.images is not None else None
        return ImageSet(images, self.labels.to(device), self.rows)


@dataclass
class FoldData:
    """Everything a fold trains and evaluates on."""

    dataset: str
    labels_per_class: int
    classes: list[str]
    source_domains: list[str]
    target_domain: str
    labeled: ImageSet  # pooled over source domains, in source-domain order
    labeled_sizes: list[int]  # labeled images per source domain
    unlabeled: ImageSet  # pooled over source domains, in source-domain order (labels only for diagnostics)
    val: dict[str, ImageSet]  # source-domain validation parts
    target: ImageSet  # every image of the held-out domain
    image_size: int
    mode: str = "memory"  # memory | stream (data_mode after auto's choice)
    unlabeled_sizes: list[int] = dataclasses.field(default_factory=list)  # unlabeled images per source domain

    def to(self, device: torch.device) -> "FoldData":
        """The same data with every image and label tensor on ``device``."""
        return dataclasses.replace(
            self, labeled=self.labeled.to(device), unlabeled=self.unlabeled.to(device),
            val={domain: part.to(device) for domain, part in self.val.items()}, target=self.target.to(device))


def _read(manifest_path: str, domain: str, positions: list[int] | None, mode: str = "memory") -> ImageSet:
    if mode == "stream":
        rows = PooledRows([DomainImages(manifest_path, domain, positions)])
        return ImageSet(None, torch.as_tensor(rows.labels, dtype=torch.int64), rows)
    images, labels = DomainImages(manifest_path, domain, positions).read_all()
    return ImageSet(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(labels, dtype=torch.int64))


def _concat(parts: list[ImageSet]) -> ImageSet:
    if parts[0].rows is not None:
        rows = PooledRows([domain for p in parts for domain in p.rows.sets])
        return ImageSet(None, torch.cat([p.labels for p in parts]), rows)
    return ImageSet(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


def load_fold(cfg: dict, verify: bool = True, device: torch.device | None = None) -> FoldData:
    """The fold's data, checking the config against manifest and split.

    Memory mode reads the images into memory; stream mode (``data_mode``, or ``auto``'s choice for
    ``device``) keeps only labels and a reader of the shards.
    """
    manifest_path, split_path = cfg["manifest"], cfg["split"]
    manifest, split = load_manifest(manifest_path), load_split(split_path)
    domains, target = sorted(manifest["domains"]), cfg["target_domain"]
    if target not in domains:
        raise FoldDataError(f"target_domain {target!r} is not a domain of {manifest_path}; domains: {', '.join(domains)}")
    if cfg["dataset"] is not None and cfg["dataset"] != manifest["dataset"]:
        raise FoldDataError(f"dataset {cfg['dataset']!r} does not match {manifest_path} (dataset {manifest['dataset']!r})")
    if cfg["labels_per_class"] is not None and cfg["labels_per_class"] != split["labels_per_class"]:
        raise FoldDataError(f"labels_per_class {cfg['labels_per_class']} does not match {split_path} ({split['labels_per_class']})")
    if split["manifest_sha256"] != sha256_file(manifest_path):
        raise FoldDataError(f"split {split_path} was made from another manifest than {manifest_path} (manifest_sha256 differs)")
    if verify:  # before anything reads the shards (the split check reads their labels)
        check_shards(manifest_path)  # size and mtime against the verify stamp; hashes only without one
    check_split(split, split_path, manifest, manifest_path)
    height, width = manifest["image_size"]
    if height != width:
        raise FoldDataError(f"{manifest_path}: training expects square images, got image_size {manifest['image_size']}")
    sources = [d for d in domains if d != target]
    parts = {d: split["domains"][d] for d in sources}
    count = manifest["domains"][target]["count"] + sum(len(p[k]) for p in parts.values() for k in ("labeled", "unlabeled", "val"))
    mode, reason = choose_mode(cfg["data_mode"], fold_image_bytes(count, height, width), cfg["data_memory_fraction"],
                               device or torch.device("cpu"))
    print(f"data: {reason}", flush=True)
    labeled = [_read(manifest_path, d, parts[d]["labeled"], mode) for d in sources]
    unlabeled = [_read(manifest_path, d, parts[d]["unlabeled"], mode) for d in sources]
    return FoldData(
        dataset=manifest["dataset"],
        labels_per_class=split["labels_per_class"],
        classes=list(manifest["classes"]),
        source_domains=sources,
        target_domain=target,
        labeled=_concat(labeled),
        labeled_sizes=[len(part) for part in labeled],
        unlabeled=_concat(unlabeled),
        val={d: _read(manifest_path, d, parts[d]["val"], mode) for d in sources},
        target=_read(manifest_path, target, None, mode),
        image_size=height,
        mode=mode,
        unlabeled_sizes=[len(part) for part in unlabeled],
    )


def _seed_of(*parts: object, bits: int = 60) -> int:
    """A well-mixed non-negative integer from ``parts`` (stable across processes and platforms)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> (64 - bits)


def _stream(n: int, start: int, count: int, *key: object) -> torch.Tensor:
    """Items ``start .. start+count-1`` of the endless sequence of seeded permutations of range(n)."""
    items = torch.arange(start, start + count)
    epochs, offsets = items // n, items % n
    out = torch.empty(count, dtype=torch.int64)
    for epoch in epochs.unique().tolist():
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(_seed_of(*key, epoch)))
        where = epochs == epoch
        out[where] = perm[offsets[where]]
    return out


def _balanced_counts(step: int, batch: int, n_domains: int) -> tuple[list[int], list[int]]:
    """Per domain: images of ``batch`` balanced over ``n_domains`` in step ``step``'s batch and images
    drawn before it (the remainder's extra images rotate over the domains from step to step)."""
    base, extra = divmod(batch, n_domains)
    counts, before = [], []
    for d in range(n_domains):
        counts.append(base + ((d - step) % n_domains < extra))
        full, partial = divmod(step, n_domains)
        earlier_extras = full * extra + sum((d - t) % n_domains < extra for t in range(partial))
        before.append(step * base + earlier_extras)
    return counts, before


def _balanced_draw(step: int, batch: int, sizes: list[int], *key: object) -> torch.Tensor:
    """Positions in the pooled set (domains in order) of ``batch`` items balanced over the domains."""
    counts, before = _balanced_counts(step, batch, len(sizes))
    offsets = [sum(sizes[:d]) for d in range(len(sizes))]
    return torch.cat([offset + _stream(n, b, c, *key, d) for d, (offset, n, b, c) in enumerate(zip(offsets, sizes, before, counts))])


@dataclass
class StepIndices:
    """This rank's slice of the global batch of one step (indices into FoldData's tensors)."""

    labeled_index: torch.Tensor  # (b,) position in the pooled labeled set
    unlabeled_index: torch.Tensor  # (u,) position in the pooled unlabeled set
    seeds: dict[str, torch.Tensor]  # per-view augmentation seeds: labeled (b,), weak (u,), strong (u,)

    def to(self, device: torch.device) -> "StepIndices":
        """The same indices on ``device`` (gathers of them under NCCL need CUDA tensors)."""
        return StepIndices(self.labeled_index.to(device), self.unlabeled_index.to(device),
                           {view: seeds.to(device) for view, seeds in self.seeds.items()})


class StepSampler:
    """The batch of every step as a pure function of (seed, step); rank ``rank`` of ``world`` takes its slice."""

    def __init__(self, seed: int, labeled_sizes: list[int], unlabeled_size: int, batch_size: int, mu: int,
                 rank: int = 0, world: int = 1, unlabeled_sizes: list[int] | None = None):
        """``unlabeled_sizes`` (unlabeled images per source domain, summing to ``unlabeled_size``): draw
        the unlabeled batch balanced over the domains like the labeled one; None: pooled."""
        if batch_size % world or (mu * batch_size) % world:
            raise ValueError(f"batch_size {batch_size} and mu*batch_size {mu * batch_size} must divide by the world size {world}")
        if min(labeled_sizes) < 1 or (mu and unlabeled_size < 1):
            raise ValueError(f"every source domain needs labeled images and the pool unlabeled ones; got {labeled_sizes}, {unlabeled_size}")
        if unlabeled_sizes is not None and mu and (sum(unlabeled_sizes) != unlabeled_size or min(unlabeled_sizes) < 1):
            raise ValueError(f"balanced unlabeled batches need unlabeled images in every source domain, "
                             f"summing to {unlabeled_size}; got {unlabeled_sizes}")
        self.seed, self.labeled_sizes, self.unlabeled_size = seed, labeled_sizes, unlabeled_size
        self.unlabeled_sizes = unlabeled_sizes
        self.batch_size, self.unlabeled_batch = batch_size, mu * batch_size
        self.rank, self.world = rank, world

    def _slice(self, x: torch.Tensor) -> torch.Tensor:
        size = len(x) // self.world
        return x[self.rank * size:(self.rank + 1) * size]

    def indices(self, step: int) -> StepIndices:
        """This rank's part of the global batch of ``step``."""
        labeled = _balanced_draw(step, self.batch_size, self.labeled_sizes, self.seed, "labeled")
        if not self.unlabeled_batch:
            unlabeled = torch.empty(0, dtype=torch.int64)
        elif self.unlabeled_sizes is None:
            unlabeled = _stream(self.unlabeled_size, step * self.unlabeled_batch, self.unlabeled_batch, self.seed, "unlabeled")
        else:
            unlabeled = _balanced_draw(step, self.unlabeled_batch, self.unlabeled_sizes, self.seed, "unlabeled-balanced")
        seeds = {view: _seed_of(self.seed, step, view) + torch.arange(len(labeled) if view == "labeled" else len(unlabeled))
                 for view in VIEWS}
        return StepIndices(self._slice(labeled), self._slice(unlabeled),
                           {view: self._slice(s) for view, s in seeds.items()})
