"""A PACS-layout folder round-trips exactly through prep + manifest; re-runs are no-ops."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from imagefolders import all_files, write_image_folder
from data_prep.presets import PRESETS
from fixclr.data import DomainImages, verify_manifest
from fixclr.io import sha256_file

PACS = PRESETS.get("PACS")
SIZE = 224  # one 224x224 image is 147 KiB: --shard-max-mb 1 puts 6 images in a shard


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    base = tmp_path_factory.mktemp("pacs")
    root, out = base / "PACS", base / "shards"
    written = write_image_folder(root, PACS.domains, PACS.classes, per_class=2, size=(SIZE, SIZE), ext="jpg")
    command = [sys.executable, "-m", "fixclr.cli", "prep", "--root", str(root), "--dataset", "PACS", "--out", str(out),
               "--workers", "2", "--shard-max-mb", "1"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    subprocess.run([sys.executable, "-m", "fixclr.cli", "manifest", "--out", str(out)], check=True)
    return root, out, written, command


def test_shards_round_trip_images_labels_and_paths_exactly(pacs):
    root, out, written, _ = pacs
    manifest = verify_manifest(out / "manifest.json")
    assert manifest["classes"] == sorted(PACS.classes)
    for domain in PACS.domains:
        entry = manifest["domains"][domain]
        assert [s["file"] for s in entry["shards"]] == [f"{domain}-{n:03d}.h5" for n in range(3)]
        assert [s["count"] for s in entry["shards"]] == [6, 6, 2]
        dataset = DomainImages(out / "manifest.json", domain)
        expected_paths = sorted(p for p in written if p.startswith(domain + "/"))
        assert dataset.paths == expected_paths
        for i, relpath in enumerate(expected_paths):
            image, label = dataset[i]
            np.testing.assert_array_equal(image, np.asarray(Image.open(root / relpath).convert("RGB")))
            assert manifest["classes"][label] == relpath.split("/")[1]


def test_manifest_counts_and_sha256_match_the_files(pacs):
    _, out, _, _ = pacs
    manifest = json.loads((out / "manifest.json").read_text())
    for domain, entry in manifest["domains"].items():
        assert entry["count"] == 14 and entry["class_counts"] == {c: 2 for c in sorted(PACS.classes)}
        assert entry["skipped"] == []
        for shard in entry["shards"]:
            path = out / shard["file"]
            assert sha256_file(path) == shard["sha256"]
            with h5py.File(path, "r") as f:
                assert len(f["labels"]) == shard["count"]
                assert f["images"].chunks == (1, SIZE, SIZE, 3)
                assert f.attrs["domain"] == domain
                assert json.loads(f.attrs["classes"]) == manifest["classes"]
                assert list(f.attrs["image_size"]) == [SIZE, SIZE]


def test_rerun_on_unchanged_input_is_a_noop(pacs):
    _, out, _, command = pacs
    before = {p: os.stat(out / p).st_mtime_ns for p in all_files(out)}
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    assert result.stderr.count("up to date") == 4
    assert {p: os.stat(out / p).st_mtime_ns for p in all_files(out)} == before


def test_changed_input_is_reingested_and_stale_shards_removed(tmp_path, prep):
    root, out = tmp_path / "root", tmp_path / "out"
    write_image_folder(root, ["d"], ["x", "y"], per_class=10, size=(SIZE, SIZE))
    assert prep(root, out, "--image-size", str(SIZE), "--shard-max-mb", "1")[0] == 0
    assert [f for f in all_files(out) if f.endswith(".h5")] == [f"d-{n:03d}.h5" for n in range(4)]
    for extra in sorted((root / "d" / "y").iterdir())[3:]:
        extra.unlink()
    status, err = prep(root, out, "--image-size", str(SIZE), "--shard-max-mb", "1")
    assert status == 0 and "up to date" not in err
    assert all_files(out) == ["d-000.h5", "d-001.h5", "d-002.h5", "d.json"]
    record = json.loads((out / "d.json").read_text())
    assert record["count"] == 13 and record["class_counts"] == {"x": 10, "y": 3}


def test_console_script_reports_user_error_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fixclr.cli", "prep", "--root", str(tmp_path / "nowhere"),
                             "--dataset", "x", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"fixclr prep: error: dataset root {tmp_path / 'nowhere'} does not exist"


def test_temporaries_of_a_killed_job_are_removed_and_never_look_complete(tmp_path, prep, manifest):
    root, out = tmp_path / "root", tmp_path / "out"
    write_image_folder(root, ["d"], ["x"], per_class=3)
    out.mkdir()
    (out / ".d-000.h5.4242.tmp").write_bytes(b"half a shard")
    status, err = manifest(out)
    assert status == 2 and "no <domain>.json ingest record" in err
    assert prep(root, out, "--image-size", "24x32")[0] == 0
    assert all_files(out) == ["d-000.h5", "d.json"]
