"""RandAugment operations against PIL (the reference FixMatch implementations use) and exact geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from fixclr.augment import RANDAUGMENT_OPS

torch.set_num_threads(1)


def _image(seed: int = 0) -> np.ndarray:
    """A 32x32 RGB uint8 image with smooth structure plus noise (not a degenerate histogram)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 200, 32)[None, :, None] + np.linspace(0, 40, 32)[:, None, None]
    return np.clip(ramp + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)


def _ours(name: str, array: np.ndarray, u: float) -> np.ndarray:
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255.0
    out = RANDAUGMENT_OPS[name](x, torch.tensor([u]))
    return out[0].permute(1, 2, 0).numpy() * 255.0


FACTOR_U = 0.5  # enhancement factor 0.05 + 0.9 * 0.5 = 0.5
PIL_REFERENCES = [
    ("Identity", 0.3, lambda img: img, 1e-3),
    ("AutoContrast", 0.3, ImageOps.autocontrast, 1.0),
    ("Equalize", 0.3, ImageOps.equalize, 1e-3),
    ("Solarize", 128 / 255, lambda img: ImageOps.solarize(img, 128), 1e-3),
    ("Posterize", 0.0, lambda img: ImageOps.posterize(img, 4), 1e-3),  # u = 0 -> 4 bits
    ("Posterize", 0.99, lambda img: ImageOps.posterize(img, 8), 1e-3),  # u -> 1 -> 8 bits
    ("Brightness", FACTOR_U, lambda img: ImageEnhance.Brightness(img).enhance(0.5), 1.0),
    ("Color", FACTOR_U, lambda img: ImageEnhance.Color(img).enhance(0.5), 1.5),
    ("Contrast", FACTOR_U, lambda img: ImageEnhance.Contrast(img).enhance(0.5), 1.5),
    ("Sharpness", FACTOR_U, lambda img: ImageEnhance.Sharpness(img).enhance(0.5), 1.5),
]


@pytest.mark.parametrize("name,u,reference,tolerance", PIL_REFERENCES, ids=[r[0] + str(r[1]) for r in PIL_REFERENCES])
def test_colour_operation_matches_pil(name, u, reference, tolerance):
    array = _image()
    expected = np.asarray(reference(Image.fromarray(array)), dtype=np.float64)
    got = _ours(name, array, u)
    assert np.abs(got - expected).max() <= tolerance, name


@pytest.mark.parametrize("name", ["Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"])
def test_geometric_operation_at_zero_magnitude_is_identity(name):
    array = _image(1)
    np.testing.assert_allclose(_ours(name, array, 0.5), array, atol=1e-3)  # u = 0.5 -> magnitude 0


@pytest.mark.parametrize("name,axis", [("TranslateX", 1), ("TranslateY", 0)])
def test_translate_shifts_by_whole_pixels_and_fills_gray(name, axis):
    array = _image(2)
    u = (0.25 / 0.3 + 1.0) / 2.0  # +25 % of 32 = 8 pixels; like PIL's AFFINE (1, 0, v, 0, 1, 0): content moves by -v
    got = _ours(name, array, u)
    expected = np.full_like(array, 127.5, dtype=np.float64)
    if axis == 1:
        expected[:, :-8] = array[:, 8:]
    else:
        expected[:-8] = array[8:]
    np.testing.assert_allclose(got, expected, atol=1e-2)


def test_every_operation_keeps_shape_and_range_per_sample():
    x = torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    u = torch.linspace(0, 0.999, 20)
    for name, op in RANDAUGMENT_OPS.items():
        out = op(x, u)
        assert out.shape == x.shape and out.dtype == x.dtype, name
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6, name
        # per-sample: applying to one sample alone gives that sample's row
        torch.testing.assert_close(op(x[7:8], u[7:8]), out[7:8], atol=1e-6, rtol=0, msg=name)
