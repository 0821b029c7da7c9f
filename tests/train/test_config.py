"""Config resolution: defaults < file < command line, strict keys and values, fold.yaml sections."""

from __future__ import annotations

import pytest
import yaml

from fixclr.config import DEFAULTS, ConfigError, config_hash, load, method_names, resolve

REQUIRED = {"manifest": "m.json", "split": "s.json", "target_domain": "mono", "out_dir": "run"}


def test_precedence_defaults_file_command_line(tmp_path):
    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({**REQUIRED, "steps": 40, "lr": 0.1, "fixclr": {"lambda": 0.5}}))
    cfg = load(path, ["steps=7", "fixclr.temperature=0.5", "regularizer=fixclr"])
    assert cfg["steps"] == 7  # command line beats file
    assert cfg["lr"] == 0.1  # file beats default
    assert cfg["fixclr"]["lambda"] == 0.5 and cfg["fixclr"]["temperature"] == 0.5
    assert cfg["fixclr"]["negatives"] == DEFAULTS["fixclr"]["negatives"]  # untouched nested default
    assert cfg["batch_size"] == DEFAULTS["batch_size"] and cfg["regularizer"] == "fixclr"


def test_fold_yaml_train_section_is_used_and_launch_ignored(tmp_path):
    path = tmp_path / "fold.yaml"
    path.write_text(yaml.safe_dump({"train": {**REQUIRED, "seed": 3}, "launch": {"cluster": "local", "anything": 1}}))
    assert load(path)["seed"] == 3


@pytest.mark.parametrize(
    ("update", "overrides", "message"),
    [
        ({"stepz": 3}, [], "unknown config key 'stepz'"),
        ({"fixclr": {"lamda": 0.1}}, [], "unknown config key 'fixclr.lamda'"),
        ({}, ["fixclr.temprature=0.1"], "unknown config key 'fixclr.temprature'"),
        ({"steps": "many"}, [], "'steps' must be a number"),
        ({"steps": 2.5}, [], "'steps' must be an integer"),
        ({"fixclr": {"attract": "yes"}}, [], "'fixclr.attract' must be true or false"),
        ({"regularizer": "supcon"}, [], "'regularizer' must be one of none, fixclr"),
        ({"fixclr": {"negatives": "domain"}}, [], "'fixclr.negatives' must be one of class, instance"),
        ({"method": "mixmatch"}, [], "unknown SSL method 'mixmatch'; known: debiaspl, defixmatch, erm, fixmatch"),
        ({}, ["debiaspl.ema_decay=1"], "'debiaspl.ema_decay' must be in [0.0, 1.0), got 1"),
        ({}, ["debiaspl.tau=-0.1"], "'debiaspl.tau' must be >= 0.0, got -0.1"),
        ({}, ["defixmatch.labeled_strong_weight=2"], "'defixmatch.labeled_strong_weight' must be in [0.0, 1.0], got 2"),
        ({}, ["softmatch.dist_align_init=zeros"], "'softmatch.dist_align_init' must be one of batch, uniform"),
        ({"fixclr": {"attract": True, "negatives": "instance"}}, [], "do not combine"),
        ({"steps": 0}, [], "'steps' must be >= 1"),
        ({}, ["unlabeled_warmup_fraction=1.5"], "'unlabeled_warmup_fraction' must be in [0, 1], got 1.5"),
        ({"fixclr": 0.1}, [], "'fixclr' in config must be a mapping"),
        ({}, ["steps"], "is not key=value"),
    ],
)
def test_bad_keys_and_values_name_the_key(update, overrides, message):
    with pytest.raises(ConfigError) as error:
        resolve({**REQUIRED, **update}, overrides)
    assert message in str(error.value)


def test_missing_required_key_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="'split' is required"):
        resolve({k: v for k, v in REQUIRED.items() if k != "split"})
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        load(tmp_path / "nope.yaml")


def test_config_hash_ignores_runtime_keys_only():
    base = resolve(REQUIRED)
    assert config_hash(base) == config_hash(resolve({**REQUIRED, "out_dir": "elsewhere", "checkpoint_every": 7}))
    assert config_hash(base) != config_hash(resolve({**REQUIRED, "seed": 1}))
    assert config_hash(base) != config_hash(resolve(REQUIRED, ["fixclr.lambda=0.3"]))


def test_method_names_known_without_torch_are_the_registered_methods():
    from fixclr.methods import METHODS

    assert method_names() == METHODS.names()
