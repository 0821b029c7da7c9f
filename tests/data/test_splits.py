"""Splits are a pure, deterministic, stratified function of (manifest, seed, L, val fraction)."""

from __future__ import annotations

import numpy as np
import pytest

from fixclr.cli import main as fixclr
from data_prep.splits import make_split, validation_count
from fixclr.data import read_domain_labels
from fixclr.io import sha256_file


def write(manifest, out, seed=0, labels=10, val="0.1") -> int:
    return fixclr(["splits", "--manifest", str(manifest), "--seed", str(seed), "--labels-per-class", str(labels),
                        "--val-fraction", val, "--out", str(out)])


def test_same_inputs_give_byte_identical_files(prepared_demo, tmp_path):
    assert write(prepared_demo.manifest, tmp_path / "a.json") == 0
    assert write(prepared_demo.manifest, tmp_path / "b.json") == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == prepared_demo.split.read_bytes()


def test_split_records_manifest_hash(prepared_demo):
    split = make_split(prepared_demo.manifest, seed=0, labels_per_class=10)
    assert split["manifest_sha256"] == sha256_file(prepared_demo.manifest)
    assert split["dataset"] == "digits-dg-mini"


def test_different_seeds_give_different_labeled_sets(prepared_demo):
    first = make_split(prepared_demo.manifest, seed=0, labels_per_class=10)
    second = make_split(prepared_demo.manifest, seed=1, labels_per_class=10)
    for domain in first["domains"]:
        assert first["domains"][domain]["labeled"] != second["domains"][domain]["labeled"]


def test_validation_is_stratified_and_independent_of_label_budget(prepared_demo):
    small = make_split(prepared_demo.manifest, seed=2, labels_per_class=5, val_fraction=0.2)
    large = make_split(prepared_demo.manifest, seed=2, labels_per_class=20, val_fraction=0.2)
    for domain, parts in large["domains"].items():
        labels = read_domain_labels(prepared_demo.manifest, domain)
        class_sizes = np.bincount(labels, minlength=10)
        val_counts = np.bincount(labels[parts["val"]], minlength=10)
        assert val_counts.tolist() == [validation_count(int(n), 0.2) for n in class_sizes]
        assert np.bincount(labels[parts["labeled"]], minlength=10).tolist() == [20] * 10
        assert parts["val"] == small["domains"][domain]["val"]
        assert set(small["domains"][domain]["labeled"]) < set(parts["labeled"])
        assert not set(parts["val"]) & set(parts["labeled"]) and not set(parts["val"]) & set(parts["unlabeled"])
        assert len(parts["val"]) + len(parts["labeled"]) + len(parts["unlabeled"]) == len(labels)


def test_more_labels_than_a_class_has_is_a_clear_error(prepared_demo, tmp_path, capsys):
    out = tmp_path / "too_many.json"
    assert write(prepared_demo.manifest, out, labels=45) == 2
    err = capsys.readouterr().err
    assert "cannot draw 45 labels per class" in err and "domain mono class 0:" in err
    assert not out.exists()


@pytest.mark.parametrize("fraction", ["1.0", "-0.1"])
def test_bad_validation_fraction_is_rejected(prepared_demo, tmp_path, capsys, fraction):
    assert write(prepared_demo.manifest, tmp_path / "x.json", val=fraction) == 2
    assert "--val-fraction must be in [0, 1)" in capsys.readouterr().err


def test_missing_manifest_is_a_clear_error(tmp_path, capsys):
    assert write(tmp_path / "nope.json", tmp_path / "x.json") == 2
    assert f"manifest {tmp_path / 'nope.json'} does not exist" in capsys.readouterr().err
