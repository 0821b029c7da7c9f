"""Fixtures for the SSL-method tests: a method built from the default config, logits from probabilities."""

from __future__ import annotations

import copy

import pytest
import torch

from fixclr.config import DEFAULTS
from fixclr.methods import METHODS, SSLMethod


def default_config() -> dict:
    """A fresh copy of the trainer's defaults (the methods read ``threshold`` and their own block)."""
    return copy.deepcopy(DEFAULTS)


def build_method(
    name: str, num_classes: int, num_unlabeled: int, overrides: dict | None = None
) -> SSLMethod:
    """The registered method ``name`` under the default config updated with ``overrides``."""
    cfg = default_config()
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return METHODS.get(name)(cfg, num_classes, num_unlabeled)


def logits_of(probabilities: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly the given rows of probabilities (each row sums to 1)."""
    return torch.tensor(probabilities, dtype=torch.float32).log()


@pytest.fixture
def method_config() -> dict:
    """A fresh copy of the trainer's default config."""
    return default_config()


@pytest.fixture
def make_method():
    """``make_method(name, num_classes, num_unlabeled, overrides)`` builds a fresh method."""
    return build_method


@pytest.fixture
def as_logits():
    """``as_logits(rows)``: logits whose softmax equals the given probability rows."""
    return logits_of
