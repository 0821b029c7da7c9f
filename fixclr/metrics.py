"""Evaluation figures from a confusion matrix (rows: true class, columns: predicted class), and the
target domain's held-out part for oracle selection. Pure numpy: the results side uses it too."""

from __future__ import annotations

import hashlib

import numpy as np

TARGET_HOLDOUT_FRACTION = 0.2
"""Share of each class of the target domain evaluated as ``target_val_acc`` (oracle selection only)."""


def top1(confusion) -> float:
    """Top-1 accuracy in percent: correct / all images."""
    confusion = np.asarray(confusion, dtype=np.float64)
    return float(100.0 * np.trace(confusion) / confusion.sum())


def per_class(confusion) -> tuple[np.ndarray, np.ndarray]:
    """(correct, count) per true class."""
    confusion = np.asarray(confusion, dtype=np.int64)
    return np.diag(confusion).copy(), confusion.sum(axis=1)


def balanced(confusion) -> float:
    """Balanced accuracy in percent: the mean over the classes present of each class's accuracy."""
    correct, count = per_class(confusion)
    present = count > 0
    return 100.0 * float(np.mean(correct[present] / count[present]))


def holdout_mask(labels, key: str, fraction: float = TARGET_HOLDOUT_FRACTION) -> np.ndarray:
    """A deterministic, class-stratified ``fraction`` of the images: per class, the ``round(fraction *
    n_c)`` images whose sha256 of ``<key>/<position>`` is smallest (positions index ``labels``)."""
    labels = np.asarray(labels)
    order = np.array([hashlib.sha256(f"{key}/{i}".encode()).hexdigest() for i in range(len(labels))])
    mask = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        chosen = members[np.argsort(order[members], kind="stable")[:int(round(fraction * len(members)))]]
        mask[chosen] = True
    return mask
