"""Names and paths of a sweep's artefacts (docs/architecture.md), all under ``results_dir``."""

from __future__ import annotations

from pathlib import Path


def dataset_root(sweep: dict, dataset: str) -> Path:
    """The image folder of ``dataset``: the generated one for a demo, else the configured root."""
    entry = sweep["datasets"][dataset]
    return Path(sweep["results_dir"], "data", dataset) if entry["demo"] else Path(entry["root"])


def shards_dir(sweep: dict, dataset: str) -> Path:
    """Folder of a dataset's HDF5 shards, per-domain records and manifest."""
    return Path(sweep["results_dir"], "shards", dataset)


def manifest_path(sweep: dict, dataset: str) -> Path:
    """The dataset's merged ``manifest.json``."""
    return shards_dir(sweep, dataset) / "manifest.json"


def split_path(sweep: dict, dataset: str, labels_per_class: int, seed: int) -> Path:
    """The split file of (dataset, label budget, seed)."""
    return Path(sweep["results_dir"], "splits", dataset, f"n{labels_per_class}_s{seed}.json")


def backbone_slug(backbone: str) -> str:
    """A backbone's name in file and folder names: ``timm:<model>`` becomes ``timm-<model>`` (no ':')."""
    return backbone.replace(":", "-")


def weights_path(sweep: dict, backbone: str) -> Path:
    """The local ImageNet weights file of a pretrained backbone."""
    return Path(sweep["weights_dir"], f"{backbone_slug(backbone)}.pth")
