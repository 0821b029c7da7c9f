"""Random hyperparameter search: distributions per method, pure draws, and the folds a search plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from workflow_helpers import DEMO_CONFIG, REPO

from fixclr import hparams
from fixclr.config import DEFAULTS, resolve
from fixclr.methods import METHODS
from fixclr.sweep import SweepConfigError, expand_folds, fold_spec_text, load_sweep

PLAN = """
import json, sys, yaml
from fixclr.sweep import expand_folds, fold_spec_text, load_sweep
config = yaml.safe_load(open(sys.argv[1]))
config["hparams"] = {"trials": 4}
print(json.dumps({str(f.run_dir): fold_spec_text(f.spec) for f in expand_folds(load_sweep(config))}))
"""


def searched(trials: int = 4, seed: int = 0) -> dict:
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["hparams"] = {"trials": trials, "seed": seed}
    return load_sweep(config)


def test_demo_with_four_trials_plans_four_times_the_folds_in_trial_folders():
    plain, search = expand_folds(load_sweep(DEMO_CONFIG)), expand_folds(searched())
    assert len(search) == 4 * len(plain) == 144
    folders = {fold.run_dir.parts[-4] for fold in search}
    assert folders == {"t0", "t1", "t2", "t3"}
    for fold in search:
        train = fold.spec["train"]
        trial = int(fold.run_dir.parts[-4][1:])
        assert train["search"] == {"trial": trial, "trials": 4}
        resolve(train)  # every drawn value is a valid training config
    # every (variant, trial) is one set of values over all targets and seeds
    values = {}
    for fold in search:
        cfg = resolve(fold.spec["train"])
        values.setdefault(fold.run_dir.parts[-5:-3], set()).add(json.dumps(hparams.searched_values(cfg)))
    assert all(len(v) == 1 for v in values.values()) and len(values) == 12
    assert len({next(iter(v)) for (variant, _), v in values.items() if variant == "fixmatch"}) == 4


def test_without_a_search_the_folds_are_unchanged():
    """trials: 1 (the default) keeps today's run folders and fold.yaml bytes."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    plain = expand_folds(load_sweep(config))
    config["hparams"] = {"trials": 1, "seed": 5}
    again = expand_folds(load_sweep(config))
    assert [(f.run_dir, fold_spec_text(f.spec)) for f in plain] == [(f.run_dir, fold_spec_text(f.spec)) for f in again]
    assert all("search" not in f.spec["train"] and "t0" not in f.run_dir.parts for f in plain)


def test_draws_are_identical_across_two_planning_runs():
    """Two processes with different hash seeds (Python's hash() is never used) plan the same bytes."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        run = subprocess.run([sys.executable, "-c", PLAN, str(DEMO_CONFIG)], capture_output=True, text=True,
                             env=env, cwd=REPO, timeout=300, check=True)
        outputs.append(json.loads(run.stdout))
    assert outputs[0] == outputs[1] and len(outputs[0]) == 144
    here = {str(f.run_dir): fold_spec_text(f.spec) for f in expand_folds(searched())}
    assert here == outputs[0]


def test_trial_zero_is_the_defaults_and_draws_stay_in_their_ranges():
    assert hparams.draw("fixmatch", "fixclr", 0) == {
        "fixclr.lambda": DEFAULTS["fixclr"]["lambda"], "fixclr.temperature": DEFAULTS["fixclr"]["temperature"],
        "lr": DEFAULTS["lr"], "threshold": DEFAULTS["threshold"], "weight_decay": DEFAULTS["weight_decay"]}
    for method in METHODS.names():
        for regularizer in ("none", "fixclr"):
            found = hparams.distributions(method, regularizer)
            for trial in range(1, 30):
                for key, value in hparams.draw(method, regularizer, trial, 3).items():
                    dist = found[key]
                    if isinstance(dist, hparams.Choice):
                        assert value in dist.values
                    else:
                        assert dist.low <= value <= dist.high, (method, key, value)


def test_declared_distributions_and_shared_ones():
    assert set(hparams.distributions("erm", "none")) == {"lr", "weight_decay"}  # no declaration: shared only
    assert set(hparams.distributions("fixmatch", "fixclr")) == {"lr", "weight_decay", "threshold",
                                                                 "fixclr.lambda", "fixclr.temperature"}
    assert set(hparams.distributions("freematch", "none")) >= {"freematch.ema_decay", "freematch.fairness_weight"}
    assert set(hparams.distributions("softmatch", "none")) >= {"softmatch.ema_decay", "softmatch.n_sigma"}


def test_draws_are_pure_and_paired_across_fixclr():
    first = hparams.draw("fixmatch", "fixclr", 2, 7)
    assert first == hparams.draw("fixmatch", "fixclr", 2, 7)
    assert first != hparams.draw("fixmatch", "fixclr", 3, 7) and first != hparams.draw("fixmatch", "fixclr", 2, 8)
    alone = hparams.draw("fixmatch", "none", 2, 7)
    assert alone == {k: v for k, v in first.items() if not k.startswith("fixclr.")}
    with pytest.raises(ValueError, match="trial must be >= 0"):
        hparams.draw("fixmatch", "none", -1)


def test_a_bad_hparams_block_is_named():
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["hparams"] = {"trials": 0}
    with pytest.raises(SweepConfigError, match="hparams.trials: 0 is less than the minimum of 1"):
        load_sweep(config)
    config["hparams"] = {"trails": 3}
    with pytest.raises(SweepConfigError, match="hparams: Additional properties"):
        load_sweep(config)
