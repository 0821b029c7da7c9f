"""Label splits: a pure function of (manifest, seed, labels per class, validation fraction).

For each domain and class, the class's positions are shuffled with a generator seeded by
(seed, domain, class): the first ``round(fraction * n)`` are validation, the next L labeled,
the rest unlabeled. So the validation part does not depend on L, and the labeled set for a
smaller L is a subset of that for a larger L (same seed).
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from data_prep.errors import DataPrepError, format_problems
from fixclr.data import load_manifest, read_domain_labels
from fixclr.io import atomic_write_json, sha256_file


def _class_generator(seed: int, domain: str, label: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(domain.encode("utf-8")), label])


def validation_count(class_size: int, val_fraction: float) -> int:
    """Validation images taken from a class of ``class_size`` images (rounded half up)."""
    return math.floor(val_fraction * class_size + 0.5)


def make_split(manifest_path: str | os.PathLike, seed: int, labels_per_class: int, val_fraction: float = 0.1) -> dict:
    """The split dict of docs/architecture.md; raise DataPrepError if a class is too small."""
    if labels_per_class < 1:
        raise DataPrepError(f"--labels-per-class must be at least 1, got {labels_per_class}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataPrepError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    try:
        manifest = load_manifest(manifest_path)
    except (OSError, ValueError) as err:
        raise DataPrepError(str(err)) from None
    domains, problems = {}, []
    for domain in manifest["domains"]:
        labels = read_domain_labels(manifest_path, domain)
        parts = {"labeled": [], "unlabeled": [], "val": []}
        for label, name in enumerate(manifest["classes"]):
            positions = np.flatnonzero(labels == label)
            shuffled = _class_generator(seed, domain, label).permutation(positions)
            n_val = validation_count(len(positions), val_fraction)
            if len(positions) - n_val < labels_per_class:
                problems.append(f"domain {domain} class {name}: {len(positions)} images, {n_val} for validation, "
                                f"leaves {len(positions) - n_val} < {labels_per_class} labels per class")
                continue
            parts["val"] += shuffled[:n_val].tolist()
            parts["labeled"] += shuffled[n_val:n_val + labels_per_class].tolist()
            parts["unlabeled"] += shuffled[n_val + labels_per_class:].tolist()
        domains[domain] = {key: sorted(values) for key, values in parts.items()}
    if problems:
        raise DataPrepError(format_problems(f"cannot draw {labels_per_class} labels per class from {manifest_path}",
                                            problems))
    return {
        "dataset": manifest["dataset"], "manifest_sha256": sha256_file(manifest_path), "seed": seed,
        "labels_per_class": labels_per_class, "val_fraction": val_fraction, "domains": domains,
    }


def write_split(manifest_path: str | os.PathLike, seed: int, labels_per_class: int, val_fraction: float,
                out: str | os.PathLike) -> Path:
    """Compute the split and write it atomically to ``out``; return ``out``."""
    split = make_split(manifest_path, seed, labels_per_class, val_fraction)
    atomic_write_json(out, split)
    return Path(out)
