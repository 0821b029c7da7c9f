"""Colour modes become RGB and EXIF orientation is applied, checked pixel by pixel through real shards."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imagefolders import write_image_folder
from data_prep.cli import manifest_main
from fixclr.data import DomainImages

H, W = 24, 32


def ingest_one(tmp_path, prep, name: str, save) -> np.ndarray:
    """Add one file made by ``save(path)`` to a small folder, ingest it, return its decoded pixels."""
    root = tmp_path / "root"
    write_image_folder(root, ["d"], ["k"], per_class=1, size=(H, W))
    save(root / "d" / "k" / name)
    out = tmp_path / "out"
    status, err = prep(root, out, "--image-size", f"{H}x{W}")
    assert status == 0, err
    assert manifest_main(["--out", str(out)]) == 0
    dataset = DomainImages(out / "manifest.json", "d")
    rows = [i for i, path in enumerate(dataset.paths) if path.endswith(name)]
    return dataset[rows[0]][0]


def smooth_pixels(seed: int = 1) -> np.ndarray:
    ramp = np.linspace(0, 255, W)[None, :, None] * np.ones((H, 1, 3))
    return np.clip(ramp + np.array([0, 60, 120]), 0, 255).astype(np.uint8)


def test_grayscale_becomes_three_equal_channels(tmp_path, prep):
    grey = smooth_pixels()[..., 0]
    image = ingest_one(tmp_path, prep, "grey.png", lambda p: Image.fromarray(grey, "L").save(p))
    assert image.shape == (H, W, 3)
    np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, axis=2))


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path, prep):
    deep = (np.linspace(0, 65535, H * W).reshape(H, W)).astype(np.uint16)
    image = ingest_one(tmp_path, prep, "deep.png", lambda p: Image.fromarray(deep).save(p))
    expected = np.rint(deep / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(image[..., 1], expected)
    assert image.max() == 255 and image.min() == 0


def test_palette_png_is_expanded(tmp_path, prep):
    rgb = smooth_pixels()
    palette_image = Image.fromarray(rgb).quantize(colors=16)
    image = ingest_one(tmp_path, prep, "pal.png", palette_image.save)
    np.testing.assert_array_equal(image, np.asarray(palette_image.convert("RGB")))


def test_rgba_png_is_composited_over_white(tmp_path, prep):
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:, : W // 2, 3] = 255  # left half opaque red-ish, right half fully transparent
    image = ingest_one(tmp_path, prep, "alpha.png", lambda p: Image.fromarray(rgba, "RGBA").save(p))
    assert (image[:, : W // 2] == [200, 0, 0]).all()
    assert (image[:, W // 2:] == 255).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path, prep):
    cmyk = Image.fromarray(smooth_pixels()).convert("CMYK")
    image = ingest_one(tmp_path, prep, "cmyk.jpg", lambda p: cmyk.save(p, quality=100))
    expected = np.asarray(cmyk.convert("RGB"), dtype=np.int16)
    assert np.abs(image.astype(np.int16) - expected).max() <= 12


@pytest.mark.parametrize("orientation, rotate", [(6, -1), (8, 1), (3, 2)])
def test_exif_rotated_jpeg_comes_out_rotated(tmp_path, prep, orientation, rotate):
    # Stored pixels: W x H with a red top-left block, blue elsewhere; the EXIF tag says how to show it.
    stored_h, stored_w = (W, H) if orientation in (6, 8) else (H, W)
    stored = np.zeros((stored_h, stored_w, 3), dtype=np.uint8)
    stored[...] = (0, 0, 255)
    stored[: stored_h // 2, : stored_w // 2] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation

    def save(path):
        Image.fromarray(stored).save(path, quality=100, exif=exif.tobytes())

    image = ingest_one(tmp_path, prep, "exif.jpg", save)
    expected = np.rot90(stored, k=rotate)  # what a viewer shows: H x W after rotation
    assert image.shape == expected.shape == (H, W, 3)
    assert np.abs(image.astype(int) - expected.astype(int)).mean() < 8
