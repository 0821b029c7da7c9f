"""Hyperparameter distributions for random search, and the trials drawn from them.

Every method declares its own searchable settings next to its code, as the class attribute
``HPARAMS`` of its ``SSLMethod`` (``{dotted config key: distribution}``, e.g.
``{"threshold": Uniform(0.8, 0.98)}``); FixCLR's and the settings shared by every method (``lr``,
``weight_decay``) are declared here. ``draw(method, regularizer, trial, seed)`` is a pure
function: trial 0 is the defaults, trial ``k >= 1`` draws every key from its own numpy Generator
seeded by a sha256 of (method, trial, seed, key) (never Python's ``hash()``), so the same sweep
config always gives the same trials, adding a key never changes another key's draws, and a method
with and without FixCLR shares its trial's lr, weight decay and method settings (the regularizer
only adds its own keys, which are named ``fixclr.*``): FixCLR's effect stays a paired comparison.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

SIGNIFICANT_DIGITS = 4  # drawn floats are rounded, so fold.yaml and the tables stay readable


@dataclass(frozen=True)
class Uniform:
    """A float uniform in [low, high]."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return _round(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform:
    """A float whose logarithm is uniform in [log low, log high]."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class Choice:
    """One of a few values, equally likely."""

    values: tuple

    def sample(self, rng: np.random.Generator):
        return self.values[int(rng.integers(len(self.values)))]


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


# Shared by every method (the SGD settings of fixclr/config.py), and FixCLR's own (regularizer: fixclr).
SHARED = {"lr": LogUniform(0.01, 0.1), "weight_decay": LogUniform(1e-5, 1e-3)}
FIXCLR = {"fixclr.lambda": LogUniform(0.01, 1.0), "fixclr.temperature": LogUniform(0.1, 1.0)}


def distributions(method: str, regularizer: str) -> dict:
    """``{dotted config key: distribution}`` searched for ``method`` (+ ``regularizer``), sorted by key."""
    from fixclr.methods import METHODS  # late: importing the methods imports torch

    declared = {**SHARED, **METHODS.get(method).HPARAMS, **(FIXCLR if regularizer == "fixclr" else {})}
    return dict(sorted(declared.items()))


def _generator(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def draw(method: str, regularizer: str, trial: int, seed: int = 0, base: dict | None = None) -> dict:
    """The values of trial ``trial``: ``{dotted key: value}`` for every searched key.

    Trial 0 takes each value from ``base`` (a resolved training config; default: the trainer's
    defaults, fixclr/config.py), trials >= 1 draw them.
    """
    from fixclr.config import DEFAULTS, get

    if trial < 0:
        raise ValueError(f"trial must be >= 0, got {trial}")
    found = distributions(method, regularizer)
    if trial == 0:
        return {key: get(base or DEFAULTS, key) for key in found}
    return {key: dist.sample(_generator(method, trial, seed, key)) for key, dist in found.items()}


def searched_values(cfg: dict) -> dict:
    """``{dotted key: value}`` of a resolved training config for the keys its method searches."""
    from fixclr.config import get

    return {key: get(cfg, key) for key in distributions(cfg["method"], cfg["regularizer"])}


def apply(train: dict, values: dict) -> dict:
    """A copy of the training mapping ``train`` with the dotted ``values`` set (nested blocks merged)."""
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in train.items()}
    for dotted, value in values.items():
        *blocks, leaf = dotted.split(".")
        target = out
        for block in blocks:
            target = target.setdefault(block, {})
        target[leaf] = value
    return out
