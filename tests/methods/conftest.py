"""Fixtures for the SSL-method tests: a method built from a small config, logits from probabilities."""

from __future__ import annotations

import copy

import pytest
import torch

from fixclr.methods import METHODS, SSLMethod

METHOD_SETTINGS = {
    "threshold": 0.95,
    "flexmatch": {"warmup": True},
    "freematch": {"ema_decay": 0.999, "fairness_weight": 0.01},
    "softmatch": {"ema_decay": 0.999, "dist_align": True, "n_sigma": 2},
}
"""The config keys the methods read, at their default values."""


def build_method(
    name: str, num_classes: int, num_unlabeled: int, overrides: dict | None = None
) -> SSLMethod:
    """The registered method ``name`` under the default settings updated with ``overrides``."""
    cfg = copy.deepcopy(METHOD_SETTINGS)
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
    """A fresh copy of the config keys the methods read, at their defaults."""
    return copy.deepcopy(METHOD_SETTINGS)


@pytest.fixture
def make_method():
    """``make_method(name, num_classes, num_unlabeled, overrides)`` builds a fresh method."""
    return build_method


@pytest.fixture
def as_logits():
    """``as_logits(rows)``: logits whose softmax equals the given probability rows."""
    return logits_of
