"""Shared fixtures: ``prepared_demo`` runs the real data-preparation commands once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from data_prep.cli import demo_main, manifest_main, prep_main, splits_main


@dataclass(frozen=True)
class PreparedDemo:
    """The digits-dg-mini demo after ``demo-data``, ``prep``, ``manifest`` and ``splits`` (L=10, seed=0)."""

    root: Path
    shards_dir: Path
    manifest: Path
    split: Path


def prepare_demo(base: Path, domains: str = "mono,color,photo,rotated", dataset: str = "digits-dg-mini",
                 labels_per_class: int = 10, seed: int = 0) -> PreparedDemo:
    """Generate, ingest (32x32) and split the demo under ``base`` through the CLI functions."""
    root, shards = base / "data" / dataset, base / "shards" / dataset
    split = base / "splits" / dataset / f"n{labels_per_class}_s{seed}.json"
    steps = [
        (demo_main, ["--out", str(root), "--seed", str(seed), "--domains", domains]),
        (prep_main, ["--root", str(root), "--dataset", dataset, "--out", str(shards), "--image-size", "32",
                     "--workers", "1", "--no-progress"]),
        (manifest_main, ["--out", str(shards)]),
        (splits_main, ["--manifest", str(shards / "manifest.json"), "--seed", str(seed),
                       "--labels-per-class", str(labels_per_class), "--out", str(split)]),
    ]
    for command, argv in steps:
        if command(argv) != 0:
            raise RuntimeError(f"{command.__name__} {' '.join(argv)} failed")
    return PreparedDemo(root=root, shards_dir=shards, manifest=shards / "manifest.json", split=split)


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory) -> PreparedDemo:
    """digits-dg-mini (4 domains, 32x32) generated, ingested and split once per test session."""
    return prepare_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def prepared_demo6(tmp_path_factory) -> PreparedDemo:
    """digits-dg-mini6 (6 domains, 32x32) generated, ingested and split once per test session."""
    return prepare_demo(tmp_path_factory.mktemp("demo6"), domains="mono,color,photo,rotated,outline,noisy",
                        dataset="digits-dg-mini6")
