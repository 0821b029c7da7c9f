"""The verify stamp: shards hashed once per dataset; a fold start trusts size and mtime, and refuses changed shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import fixclr.data.hdf5
from fixclr.config import resolve
from fixclr.data import ShardIntegrityError
from fixclr.data.loader import load_fold
from fixclr.cli import main as fixclr_main
from fixclr.data.stamp import STAMP_NAME, check_shards
from fixclr.errors import EXIT_USER_ERROR


@pytest.fixture
def demo_copy(prepared_demo, tmp_path):
    """A private copy of the demo shards and manifest (the demo split still fits it), free to damage."""
    shutil.copytree(prepared_demo.shards_dir, tmp_path / "shards")
    return tmp_path / "shards"


@pytest.fixture
def shard_hashes(monkeypatch):
    """The shard files hashed by integrity checks, in order."""
    hashed, real = [], fixclr.data.hdf5.sha256_file

    def counting(path, *args, **kwargs):
        hashed.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fixclr.data.hdf5, "sha256_file", counting)
    return hashed


def _fold(prepared_demo, demo_copy, tmp_path) -> dict:
    return resolve({"manifest": str(demo_copy / "manifest.json"), "split": str(prepared_demo.split),
                    "target_domain": "mono", "out_dir": str(tmp_path / "run")})


def verify_main(argv: list[str]) -> int:
    return fixclr_main(["verify", *argv])


def _shard_count(manifest) -> int:
    return sum(len(d["shards"]) for d in json.loads(manifest.read_text())["domains"].values())


def test_verify_writes_a_stamp_of_every_shard(demo_copy, capsys):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    stamp = json.loads((demo_copy / STAMP_NAME).read_text())
    manifest = json.loads((demo_copy / "manifest.json").read_text())
    for entry in manifest["domains"].values():
        for shard in entry["shards"]:
            facts = stamp["shards"][shard["file"]]
            stat = (demo_copy / shard["file"]).stat()
            assert facts == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": shard["sha256"]}


def test_fold_start_with_a_valid_stamp_hashes_no_shard(prepared_demo, demo_copy, tmp_path, shard_hashes, capsys):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    assert len(shard_hashes) == _shard_count(demo_copy / "manifest.json")  # verify hashes each shard once
    shard_hashes.clear()
    data = load_fold(_fold(prepared_demo, demo_copy, tmp_path))
    assert shard_hashes == [] and len(data.target) > 0
    assert "hashed" not in capsys.readouterr().out


def test_missing_stamp_falls_back_to_hashing_every_shard(prepared_demo, demo_copy, tmp_path, shard_hashes, capsys):
    load_fold(_fold(prepared_demo, demo_copy, tmp_path))
    assert len(shard_hashes) == _shard_count(demo_copy / "manifest.json")
    assert "no valid stamp" in capsys.readouterr().out


def test_stamp_of_another_manifest_is_not_trusted(demo_copy, shard_hashes, capsys):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    manifest = json.loads((demo_copy / "manifest.json").read_text())
    manifest["note"] = "edited"
    (demo_copy / "manifest.json").write_text(json.dumps(manifest))
    shard_hashes.clear()
    check_shards(demo_copy / "manifest.json")
    assert len(shard_hashes) == _shard_count(demo_copy / "manifest.json")


def test_shard_modified_after_verification_is_refused_before_training(prepared_demo, demo_copy, tmp_path, capsys):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    shard = demo_copy / "rotated-000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, new mtime
    shard.write_bytes(bytes(data))
    cfg = _fold(prepared_demo, demo_copy, tmp_path)
    with pytest.raises(ShardIntegrityError, match="rotated-000.h5 .*modified after verification"):
        load_fold(cfg)
    config = tmp_path / "fold.yaml"
    config.write_text(json.dumps({**cfg, "steps": 2}))
    completed = subprocess.run([sys.executable, "-m", "fixclr.cli", "train", "--config", str(config)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == EXIT_USER_ERROR and "rotated-000.h5" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # refused before training


def test_shard_truncated_after_verification_is_refused_naming_it(prepared_demo, demo_copy, tmp_path, shard_hashes):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    shard = demo_copy / "color-000.h5"
    shard.write_bytes(shard.read_bytes()[:-1000])
    shard_hashes.clear()
    with pytest.raises(ShardIntegrityError, match="color-000.h5 .*changed after verification"):
        load_fold(_fold(prepared_demo, demo_copy, tmp_path))
    assert shard_hashes == []  # the size alone gives it away


def test_touched_but_intact_shard_is_hashed_alone_and_accepted(prepared_demo, demo_copy, tmp_path, shard_hashes):
    assert verify_main([str(demo_copy / "manifest.json")]) == 0
    os.utime(demo_copy / "photo-000.h5", ns=(1, 1))
    shard_hashes.clear()
    load_fold(_fold(prepared_demo, demo_copy, tmp_path))
    assert shard_hashes == ["photo-000.h5"]


def test_verify_of_a_corrupt_dataset_fails_and_writes_no_stamp(demo_copy, capsys):
    shard = demo_copy / "mono-000.h5"
    shard.write_bytes(shard.read_bytes()[:-10])
    assert verify_main([str(demo_copy / "manifest.json")]) == EXIT_USER_ERROR
    assert "fixclr verify: error: shard" in capsys.readouterr().err
    assert not (demo_copy / STAMP_NAME).exists()
