"""A fold config that does not fit its manifest or split fails before training, naming both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixclr.data.loader import FoldDataError, load_fold
from fixclr.config import resolve


def test_fold_data_is_read_per_the_split(prepared_demo, fold_cfg):
    data = load_fold(resolve(fold_cfg))
    split = json.loads(Path(prepared_demo.split).read_text())
    assert data.source_domains == ["color", "photo", "rotated"] and data.target_domain == "mono"
    assert data.labeled_sizes == [len(split["domains"][d]["labeled"]) for d in data.source_domains] == [100, 100, 100]
    assert len(data.unlabeled) == sum(len(split["domains"][d]["unlabeled"]) for d in data.source_domains)
    assert len(data.target) == json.loads(Path(prepared_demo.manifest).read_text())["domains"]["mono"]["count"]
    assert data.labeled.images.shape[1:] == (3, 32, 32) and data.image_size == 32
    assert sorted(data.labeled.labels[:100].tolist()) == sorted(list(range(10)) * 10)  # 10 per class


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"target_domain": "sketch"}, "target_domain 'sketch' is not a domain of"),
        ({"dataset": "pacs"}, "dataset 'pacs' does not match"),
        ({"labels_per_class": 5}, "labels_per_class 5 does not match"),
    ],
)
def test_mismatches_are_refused(fold_cfg, update, message):
    with pytest.raises(FoldDataError, match=message):
        load_fold(resolve({**fold_cfg, **update}))


def test_split_of_another_manifest_is_refused(prepared_demo, fold_cfg, tmp_path):
    manifest = tmp_path / "manifest.json"
    shutil.copy(prepared_demo.manifest, manifest)
    manifest.write_text(manifest.read_text().replace('"digits-dg-mini"', '"digits-dg-mini-copy"'))
    with pytest.raises(FoldDataError, match="made from another manifest"):
        load_fold(resolve({**fold_cfg, "manifest": str(manifest)}))
