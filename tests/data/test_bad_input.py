"""Every kind of bad input gets an error naming it and leaves no output (or, with --skip-bad, is listed)."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from imagefolders import all_files, write_image_folder

DOMAINS, CLASSES = ("a", "b"), ("cat", "dog")


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "root"
    write_image_folder(path, DOMAINS, CLASSES, per_class=2, size=(24, 32))
    return path


def jpeg_bytes(pixels: np.ndarray, **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, **save_args)
    return buffer.getvalue()


BROKEN_FILES = {
    "truncated.jpg": lambda: jpeg_bytes(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))[:900],
    "empty.jpg": lambda: b"",
    "notes.jpg": lambda: b"this is a text file, not an image\n" * 4,
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_bad_file_stops_with_error_naming_it_and_writes_nothing(root, tmp_path, prep, name):
    (root / "a" / "dog" / name).write_bytes(BROKEN_FILES[name]())
    out = tmp_path / "out"
    status, err = prep(root, out, "--image-size", "24x32", "--domain", "a")
    assert status == 2
    assert f"a/dog/{name}" in err and "Traceback" not in err
    assert all_files(out) == []


def test_error_names_every_bad_file_of_every_domain(root, tmp_path, prep):
    bad = ["a/cat/x.jpg", "a/dog/y.png", "b/dog/z.jpeg"]
    for relpath in bad:
        (root / relpath).write_bytes(b"garbage")
    out = tmp_path / "out"
    status, err = prep(root, out, "--image-size", "24x32")
    assert status == 2
    assert all(relpath in err for relpath in bad)
    assert not [f for f in all_files(out) if f.endswith(".h5") or f.endswith(".tmp")]


def test_skip_bad_skips_and_lists_bad_files_in_manifest(root, tmp_path, prep, manifest):
    for name, make in BROKEN_FILES.items():
        (root / "b" / "cat" / name).write_bytes(make())
    out = tmp_path / "out"
    assert prep(root, out, "--image-size", "24x32", "--skip-bad")[0] == 0
    assert manifest(out)[0] == 0
    entry = json.loads((out / "manifest.json").read_text())["domains"]["b"]
    assert sorted(s["path"] for s in entry["skipped"]) == sorted(f"b/cat/{n}" for n in BROKEN_FILES)
    assert all(s["reason"].startswith("cannot decode") for s in entry["skipped"])
    assert entry["count"] == 4 and entry["class_counts"] == {"cat": 2, "dog": 2}
    assert not [f for f in all_files(out) if f.endswith(".tmp")]


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda r: shutil.rmtree(r / "b" / "dog") or (r / "b" / "dog").mkdir(), "class folder b/dog/ is empty"),
        (lambda r: shutil.rmtree(r / "b" / "dog"), "domain b lacks class folder(s) dog"),
        (lambda r: shutil.move(r / "b" / "dog", r / "b" / "wolf"), "lacks class folder(s) wolf"),
        (lambda r: shutil.rmtree(r), "does not exist"),
        (lambda r: [shutil.rmtree(r / d) for d in DOMAINS], "contains no domain folders"),
    ],
    ids=["empty-class", "missing-class", "different-classes", "no-root", "no-domains"],
)
def test_layout_problem_is_named_before_decoding_and_nothing_is_written(root, tmp_path, prep, damage, expected):
    damage(root)
    out = tmp_path / "out"
    status, err = prep(root, out, "--domain", "a")  # the problem may be in another domain: still caught
    assert status == 2 and expected in err and str(root) in err
    assert all_files(out) == []


def test_preset_mismatch_lists_expected_and_found_domains(tmp_path, prep):
    root = tmp_path / "pacs"
    write_image_folder(root, ["art_painting", "cartoon", "photos", "sketch"], ["dog"], per_class=1)
    status, err = prep(root, tmp_path / "out", dataset="PACS")
    assert status == 2
    assert "expected 4 domains art_painting, cartoon, photo, sketch; found 4: art_painting, cartoon, photos, sketch" in err
    assert "missing: elephant, giraffe, guitar, horse, house, person" in err


def test_hidden_files_are_ignored(root, tmp_path, prep):
    (root / "a" / "cat" / ".DS_Store").write_bytes(b"\0\1junk")
    (root / ".hidden_domain").mkdir()
    out = tmp_path / "out"
    assert prep(root, out, "--image-size", "24x32")[0] == 0
    record = json.loads((out / "a.json").read_text())
    assert record["count"] == 4 and record["layout_domains"] == ["a", "b"]
