"""The demo dataset generates, ingests and splits through the same code as a real dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from data_prep.demo import DIGIT_COUNTS, demo_class_counts, generate
from data_prep.layout import count_class_files
from data_prep.errors import DataPrepError
from fixclr.data import DomainImages, load_manifest, load_split, verify_manifest


def test_demo_manifest_counts_match_generated_files(prepared_demo):
    manifest = verify_manifest(prepared_demo.manifest)
    assert manifest["dataset"] == "digits-dg-mini"
    assert manifest["image_size"] == [32, 32]
    assert manifest["classes"] == [str(d) for d in range(10)]
    assert sorted(manifest["domains"]) == ["color", "mono", "photo", "rotated"]
    total = 0
    for domain, entry in manifest["domains"].items():
        files = sorted((prepared_demo.root / domain).glob("*/*.png"))
        assert entry["count"] == len(files) == sum(entry["class_counts"].values())
        assert 440 <= entry["count"] <= 460
        assert entry["skipped"] == []
        total += entry["count"]
    assert total == 1797


def test_demo_class_sizes_are_known_before_it_is_generated(prepared_demo):
    from sklearn.datasets import load_digits

    assert tuple(np.bincount(load_digits().target)) == DIGIT_COUNTS
    domains = ["mono", "color", "photo", "rotated"]  # the order demo-data was given
    counted = count_class_files(prepared_demo.root, domains)
    manifest = load_manifest(prepared_demo.manifest)
    assert demo_class_counts(domains) == counted == {d: manifest["domains"][d]["class_counts"] for d in domains}


def test_demo_images_round_trip_through_shards(prepared_demo):
    dataset = DomainImages(prepared_demo.manifest, "photo")
    images, labels = dataset.read_all()
    assert images.shape == (len(dataset), 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, dataset.labels)
    for i in (0, 123, len(dataset) - 1):
        image, label = dataset[i]
        np.testing.assert_array_equal(image, images[i])
        assert label == labels[i]
    first_png = sorted((prepared_demo.root / "photo" / "0").glob("*.png"))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(first_png)), images[0])


def test_demo_split_is_stratified_and_covers_each_domain(prepared_demo):
    split = load_split(prepared_demo.split)
    manifest = load_manifest(prepared_demo.manifest)
    assert split["labels_per_class"] == 10 and split["seed"] == 0 and split["val_fraction"] == 0.1
    for domain, parts in split["domains"].items():
        labels = DomainImages(prepared_demo.manifest, domain).labels
        assert np.bincount(labels[parts["labeled"]], minlength=10).tolist() == [10] * 10
        everything = sorted(parts["labeled"] + parts["unlabeled"] + parts["val"])
        assert everything == list(range(manifest["domains"][domain]["count"]))
        assert all(parts[k] == sorted(parts[k]) for k in parts)


def test_demo_generation_is_deterministic_and_seed_dependent(tmp_path):
    first = generate(tmp_path / "a", seed=3, domains=("color", "noisy"))
    second = generate(tmp_path / "b", seed=3, domains=("color", "noisy"))
    other = generate(tmp_path / "c", seed=4, domains=("color", "noisy"))
    names = sorted(p.relative_to(first).as_posix() for p in first.glob("*/*/*.png"))
    assert names == sorted(p.relative_to(second).as_posix() for p in second.glob("*/*/*.png"))
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    assert names != sorted(p.relative_to(other).as_posix() for p in other.glob("*/*/*.png"))
    assert len(names) == 1797  # two domains share all the digits, disjointly


def test_demo6_has_six_disjoint_domains(prepared_demo6):
    manifest = json.loads(prepared_demo6.manifest.read_text())
    assert sorted(manifest["domains"]) == sorted(["mono", "color", "photo", "rotated", "outline", "noisy"])
    counts = [entry["count"] for entry in manifest["domains"].values()]
    assert sum(counts) == 1797 and min(counts) >= 290
    sources = [p.name for p in prepared_demo6.root.glob("*/*/*.png")]
    assert len(sources) == len(set(sources)) == 1797


def test_preset_gives_the_default_image_size(prepared_demo, tmp_path, prep):
    assert prep(prepared_demo.root, tmp_path / "out", "--domain", "mono", dataset="digits-dg-mini")[0] == 0
    assert json.loads((tmp_path / "out" / "mono.json").read_text())["image_size"] == [32, 32]


def test_demo_replaces_an_earlier_demo_but_never_other_folders(tmp_path):
    root = generate(tmp_path / "demo", seed=0, domains=("mono",))
    generate(root, seed=1, domains=("color",))
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["color"]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(DataPrepError, match="is not a generated demo folder"):
        generate(precious, domains=("mono",))
    assert [p.name for p in precious.iterdir()] == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "precious"]  # no staging folder left


def test_unknown_demo_style_is_named(tmp_path):
    with pytest.raises(DataPrepError, match="among mono, color, photo, rotated, outline, noisy; got mono, sepia"):
        generate(tmp_path / "demo", domains=("mono", "sepia"))
    assert not (tmp_path / "demo").exists()
