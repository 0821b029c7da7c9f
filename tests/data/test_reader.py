"""fixclr.data: manifest/split loading, shard integrity, lazy per-process HDF5 handles."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fixclr.data import DomainImages, ShardIntegrityError, load_manifest, load_split, verify_manifest


@pytest.fixture
def demo_copy(prepared_demo, tmp_path):
    """A private copy of the demo shards, free to damage."""
    shutil.copytree(prepared_demo.shards_dir, tmp_path / "shards")
    return tmp_path / "shards"


def test_truncated_shard_is_a_clear_error_naming_it(demo_copy):
    shard = demo_copy / "color-000.h5"
    shard.write_bytes(shard.read_bytes()[:-1000])
    with pytest.raises(ShardIntegrityError, match="color-000.h5"):
        verify_manifest(demo_copy / "manifest.json")


def test_modified_byte_is_a_clear_error_naming_it(demo_copy):
    shard = demo_copy / "rotated-000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="rotated-000.h5.*sha256"):
        verify_manifest(demo_copy / "manifest.json")


def test_missing_shard_is_a_clear_error(demo_copy):
    (demo_copy / "mono-000.h5").unlink()
    with pytest.raises(ShardIntegrityError, match="mono-000.h5 of domain mono is missing"):
        verify_manifest(demo_copy / "manifest.json")


def test_manifest_missing_key_is_named(demo_copy):
    manifest = json.loads((demo_copy / "manifest.json").read_text())
    del manifest["domains"]["photo"]["shards"]
    (demo_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"lacks key\(s\) domains.photo.shards"):
        load_manifest(demo_copy / "manifest.json")


def test_split_with_overlapping_parts_is_rejected(prepared_demo, tmp_path):
    split = json.loads(prepared_demo.split.read_text())
    split["domains"]["mono"]["val"].append(split["domains"]["mono"]["labeled"][0])
    (tmp_path / "bad.json").write_text(json.dumps(split))
    with pytest.raises(ValueError, match="domain mono's labeled/unlabeled/val lists overlap"):
        load_split(tmp_path / "bad.json")


def test_positions_select_and_order_items(prepared_demo):
    full = DomainImages(prepared_demo.manifest, "color")
    positions = [40, 3, 17]
    subset = DomainImages(prepared_demo.manifest, "color", positions=positions)
    assert len(subset) == 3
    np.testing.assert_array_equal(subset.labels, full.labels[positions])
    assert subset.paths == [full.paths[p] for p in positions]
    for i, p in enumerate(positions):
        np.testing.assert_array_equal(subset[i][0], full[p][0])
    images, labels = subset.read_all()
    np.testing.assert_array_equal(images[1], full[3][0])
    with pytest.raises(IndexError, match="out of range for domain color"):
        DomainImages(prepared_demo.manifest, "color", positions=[len(full)])


def test_locking_setting_is_passed_to_hdf5(demo_copy):
    unlocked = DomainImages(demo_copy / "manifest.json", "mono", locking=False)
    image, label = unlocked[5]
    assert image.shape == (32, 32, 3) and label == unlocked.labels[5]
    use_locking, _ = unlocked._handles[0][0].id.get_access_plist().get_file_locking()
    assert not use_locking
    with pytest.raises(OSError, match="already open in this process with another locking setting"):
        DomainImages(demo_copy / "manifest.json", "mono", locking=True)[0]


def test_unknown_domain_is_named(prepared_demo):
    with pytest.raises(KeyError, match="'sketch' is not in manifest"):
        DomainImages(prepared_demo.manifest, "sketch")


def test_forked_dataloader_workers_reopen_handles_and_read_correctly(prepared_demo):
    dataset = DomainImages(prepared_demo.manifest, "photo")
    expected_images, expected_labels = dataset.read_all()  # opens a handle in the parent before the fork
    assert dataset._handles
    loader = DataLoader(dataset, batch_size=64, num_workers=2, multiprocessing_context="fork")
    batches = list(loader)
    images = torch.cat([b[0] for b in batches]).numpy()
    labels = torch.cat([b[1] for b in batches]).numpy()
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_pickled_dataset_carries_no_open_handle(prepared_demo):
    dataset = DomainImages(prepared_demo.manifest, "mono")
    first = dataset[0][0]
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._handles == {}
    np.testing.assert_array_equal(clone[0][0], first)


def test_batch_read_matches_item_reads_in_request_order(prepared_demo):
    dataset = DomainImages(prepared_demo.manifest, "rotated", positions=[9, 2, 300, 2, 41])
    batch = dataset.__getitems__([4, 0, 2, 3])
    for (image, label), index in zip(batch, [4, 0, 2, 3]):
        expected_image, expected_label = dataset[index]
        np.testing.assert_array_equal(image, expected_image)
        assert label == expected_label


@pytest.mark.parametrize("positions", [[5], list(range(0, 400, 3)), [300, 1, 1, 7]], ids=["one", "third", "repeat"])
def test_read_all_matches_item_reads_for_small_and_large_subsets(prepared_demo, positions):
    dataset = DomainImages(prepared_demo.manifest, "color", positions=positions)
    images, labels = dataset.read_all()
    np.testing.assert_array_equal(images, np.stack([dataset[i][0] for i in range(len(dataset))]))
    np.testing.assert_array_equal(labels, dataset.labels)
