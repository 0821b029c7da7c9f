"""Photo-like JPEG image folders of any size, for benchmarks (no download needed).

Each image is a random crop of scikit-learn's two sample photos, rescaled, colour-jittered and
noised, saved as a JPEG of realistic size (tens of KiB at 256x256).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from data_prep.demo import sample_photos


def photo_like(rng: np.random.Generator, size: int) -> Image.Image:
    """One ``size`` x ``size`` RGB image cut from a sample photo with random scale and colour."""
    photo = sample_photos()[rng.integers(len(sample_photos()))]
    side = int(rng.integers(size // 2, min(photo.shape[:2])))
    top, left = rng.integers(photo.shape[0] - side + 1), rng.integers(photo.shape[1] - side + 1)
    crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.BILINEAR)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * 6.0
    pixels = np.asarray(crop, dtype=np.float32) * rng.uniform(0.6, 1.2, size=3).astype(np.float32) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_jpeg_folder(root: str | os.PathLike, count: int, size: int = 256, domains: int = 1, classes: int = 10,
                      seed: int = 0, quality: int = 90) -> Path:
    """Write ``count`` JPEGs as ``root/d<i>/c<j>/<n>.jpg`` spread evenly over domains and classes."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for n in range(count):
        folder = root / f"d{n % domains}" / f"c{(n // domains) % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        photo_like(rng, size).save(folder / f"{n:06d}.jpg", quality=quality)
    return root
