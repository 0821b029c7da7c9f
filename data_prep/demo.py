"""The built-in demo dataset digits-dg-mini: scikit-learn's 1,797 handwritten digits in styled domains.

Each domain gets a disjoint, class-stratified part of the digits, upsampled from 8x8 to a
32x32 stroke mask and rendered in the domain's style as an RGB PNG under
``ROOT/<domain>/<digit>/<index>.png``. Deterministic for a seed. Styles:

- ``mono``: white strokes on black;
- ``color``: random, contrasting foreground and background colours;
- ``photo``: strokes invert a random crop of scikit-learn's sample photos (MNIST-M style);
- ``rotated``: rotated 30 to 60 degrees either way and rescaled, white on black;
- ``outline``: only the strokes' edges, in a dark random colour on light paper;
- ``noisy``: thick blurred strokes on a textured background with strong pixel noise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from data_prep.errors import DataPrepError
from data_prep.presets import DEMO_DOMAINS

SIZE = 32
MARKER = ".fixclr-demo"
# Images per digit 0..9 in scikit-learn's load_digits() (tests/data/test_demo_pipeline.py checks it).
DIGIT_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
Style = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _digit_mask(digit: np.ndarray, scale: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """8x8 digit (0..16) as a float 32x32 stroke mask in 0..1, optionally scaled and rotated."""
    side = max(4, round(28 * scale))
    small = Image.fromarray((digit / 16.0).astype(np.float32), "F").resize((side, side), Image.BICUBIC)
    canvas = Image.new("F", (SIZE, SIZE), 0.0)
    canvas.paste(small, ((SIZE - side) // 2, (SIZE - side) // 2))
    if angle:
        canvas = canvas.rotate(angle, resample=Image.BICUBIC)
    return np.clip(np.asarray(canvas), 0.0, 1.0)


def _blend(mask: np.ndarray, background: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    m = mask[..., None]
    return np.clip(np.rint(background * (1 - m) + foreground * m), 0, 255).astype(np.uint8)


def _contrasting_colours(rng: np.random.Generator, min_distance: float = 160.0) -> tuple[np.ndarray, np.ndarray]:
    while True:
        foreground, background = rng.uniform(0, 255, size=(2, 3))
        if np.linalg.norm(foreground - background) >= min_distance:
            return foreground, background


@lru_cache(maxsize=1)
def sample_photos() -> tuple[np.ndarray, ...]:
    """scikit-learn's two bundled sample photos (427x640 RGB), loaded once."""
    from sklearn.datasets import load_sample_images

    return tuple(load_sample_images().images)


def _photo_crop(rng: np.random.Generator) -> np.ndarray:
    photo = sample_photos()[rng.integers(len(sample_photos()))]
    side = int(rng.integers(48, 160))
    top, left = rng.integers(photo.shape[0] - side), rng.integers(photo.shape[1] - side)
    crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(crop, dtype=np.float64)


def mono(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White strokes on black."""
    return _blend(_digit_mask(digit), np.zeros(3), np.full(3, 255.0))


def color(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random contrasting foreground and background colours."""
    foreground, background = _contrasting_colours(rng)
    return _blend(_digit_mask(digit), background, foreground)


def photo(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes invert a random crop of a photo: |photo - 255 * mask| (MNIST-M)."""
    background = _photo_crop(rng)
    strokes = 255.0 * _digit_mask(digit)[..., None]
    return np.clip(np.rint(np.abs(background - strokes)), 0, 255).astype(np.uint8)


def rotated(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotated 30 to 60 degrees (either way) and rescaled to 60..100 %, white on black."""
    angle = rng.uniform(30.0, 60.0) * rng.choice([-1.0, 1.0])
    mask = _digit_mask(digit, scale=rng.uniform(0.6, 1.0), angle=angle)
    return _blend(mask, np.zeros(3), np.full(3, 255.0))


def outline(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edges of the strokes (dilation minus erosion) in a dark colour on light paper."""
    binary = Image.fromarray(((_digit_mask(digit) > 0.4) * 255).astype(np.uint8), "L")
    edges = np.asarray(binary.filter(ImageFilter.MaxFilter(3)), dtype=np.float64) - np.asarray(
        binary.filter(ImageFilter.MinFilter(3)), dtype=np.float64)
    paper = rng.uniform(200, 255, size=3)
    ink = rng.uniform(0, 90, size=3)
    return _blend(edges / 255.0, paper, ink)


def noisy(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thick, blurred strokes on a low-frequency colour texture, plus strong pixel noise."""
    thick = Image.fromarray((_digit_mask(digit) * 255).astype(np.uint8), "L").filter(ImageFilter.MaxFilter(3))
    mask = np.asarray(thick.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float64) / 255.0
    foreground, base = _contrasting_colours(rng, min_distance=200.0)
    blotches = Image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)).resize((SIZE, SIZE), Image.BICUBIC)
    texture = base + (np.asarray(blotches, dtype=np.float64) - 128.0) * 0.4
    image = _blend(mask, texture, foreground).astype(np.float64)
    return np.clip(np.rint(image + rng.normal(0, 30, size=image.shape)), 0, 255).astype(np.uint8)


STYLES: dict[str, Style] = {f.__name__: f for f in (mono, color, photo, rotated, outline, noisy)}


def _partition(targets: np.ndarray, n_parts: int, seed: int) -> list[np.ndarray]:
    """Disjoint, class-stratified parts of the indices (each class split as evenly as possible)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    for label in np.unique(targets):
        chunks = np.array_split(rng.permutation(np.flatnonzero(targets == label)), n_parts)
        for part, chunk in zip(parts, chunks):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def demo_class_counts(domains) -> dict[str, dict[str, int]]:
    """Images per class of each domain ``generate`` writes (as ``_partition`` splits each digit)."""
    n = len(domains)
    return {domain: {str(digit): count // n + (i < count % n) for digit, count in enumerate(DIGIT_COUNTS)}
            for i, domain in enumerate(domains)}


def _replace_folder(new: Path, root: Path) -> None:
    if root.exists():
        if any(root.iterdir()) and not (root / MARKER).exists():
            shutil.rmtree(new)
            raise DataPrepError(f"{root} exists and is not a generated demo folder; refusing to replace it")
        trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old.", dir=root.parent))
        os.replace(root, trash / root.name)
        os.replace(new, root)
        shutil.rmtree(trash)
    else:
        os.replace(new, root)


def generate(root: str | os.PathLike, seed: int = 0, domains=DEMO_DOMAINS) -> Path:
    """Write the demo image folder at ``root`` (replacing an earlier demo there); return ``root``."""
    from sklearn.datasets import load_digits

    domains = tuple(domains)
    unknown = [d for d in domains if d not in STYLES]
    if unknown or len(set(domains)) != len(domains) or not domains:
        raise DataPrepError(f"demo domains must be distinct names among {', '.join(STYLES)}; got {', '.join(domains)}")
    digits = load_digits()
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.new.", dir=root.parent))
    staging.chmod(0o755)
    for domain, indices in zip(domains, _partition(digits.target, len(domains), seed)):
        rng = np.random.default_rng([seed, zlib.crc32(domain.encode())])
        for index in indices:
            label = int(digits.target[index])
            folder = staging / domain / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(STYLES[domain](digits.images[index], rng), "RGB").save(folder / f"{index:04d}.png")
    (staging / MARKER).write_text(f"digits-dg-mini seed={seed} domains={','.join(domains)}\n")
    _replace_folder(staging, root)
    return root
