"""A second synthetic multi-domain family, shapes-dg: ten geometric shapes in four drawing styles.

Not the demo (data_prep/demo.py renders digits): a dataset of another content and other styles, so
that a training recipe can be checked on more than one family (benchmarks/recipe_ablation.py).
Each image is one shape of random size, position and rotation, drawn at 4x and downsampled to
32x32 RGB PNG under ``ROOT/<domain>/<shape>/<n>.png``. Deterministic for a seed. Styles:

- ``solid``: filled in a random colour on a contrasting flat background;
- ``sketch``: two or three jittered dark outlines on light paper;
- ``stipple``: dense dots inside the shape, sparse dots outside, black on white;
- ``photo``: a crop of one sample photo inside the shape over a blurred crop of another.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from data_prep.demo import SIZE, _contrasting_colours, _photo_crop
from data_prep.errors import DataPrepError

SCALE = 4  # drawing resolution over the output's
SHAPES = ("circle", "ring", "halfdisc", "triangle", "square", "pentagon", "hexagon", "star", "plus", "cross")
STYLES = ("solid", "sketch", "stipple", "photo")


def _polygon(centre: np.ndarray, radius: float, corners: int, angle: float, inner: float | None = None) -> list:
    """Vertices of a regular polygon (or a star with ``inner`` radius ratio) as (x, y) tuples."""
    points = []
    steps = corners * (2 if inner else 1)
    for k in range(steps):
        r = radius * (inner if inner and k % 2 else 1.0)
        a = angle + 2 * math.pi * k / steps
        points.append((float(centre[0] + r * math.cos(a)), float(centre[1] + r * math.sin(a))))
    return points


def _bar_pair(centre: np.ndarray, radius: float, angle: float) -> list[list]:
    """Two crossing bars (a plus at ``angle``), each as a 4-vertex polygon."""
    half_width = radius * 0.28
    bars = []
    for a in (angle, angle + math.pi / 2):
        dx, dy = math.cos(a), math.sin(a)
        px, py = -dy * half_width, dx * half_width
        ends = [(centre[0] + s * radius * dx, centre[1] + s * radius * dy) for s in (-1, 1)]
        bars.append([(ends[0][0] + px, ends[0][1] + py), (ends[1][0] + px, ends[1][1] + py),
                     (ends[1][0] - px, ends[1][1] - py), (ends[0][0] - px, ends[0][1] - py)])
    return bars


def shape_mask(shape: str, rng: np.random.Generator) -> Image.Image:
    """Binary mask ("L", SCALE*SIZE square) of ``shape`` at a random size, place and rotation."""
    side = SIZE * SCALE
    radius = rng.uniform(0.28, 0.42) * side
    centre = side / 2 + rng.uniform(-0.08, 0.08, size=2) * side
    angle = rng.uniform(-math.pi / 12, math.pi / 12)
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
    if shape in ("circle", "ring"):
        draw.ellipse(box, fill=255)
        if shape == "ring":
            inner = radius * 0.55
            draw.ellipse([centre[0] - inner, centre[1] - inner, centre[0] + inner, centre[1] + inner], fill=0)
    elif shape == "halfdisc":
        start = math.degrees(angle)
        draw.pieslice(box, start, start + 180, fill=255)
    elif shape in ("triangle", "square", "pentagon", "hexagon"):
        corners = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[shape]
        offset = -math.pi / 2 if corners % 2 else math.pi / corners
        draw.polygon(_polygon(centre, radius, corners, angle + offset), fill=255)
    elif shape == "star":
        draw.polygon(_polygon(centre, radius, 5, angle - math.pi / 2, inner=0.45), fill=255)
    elif shape in ("plus", "cross"):
        for bar in _bar_pair(centre, radius, angle + (math.pi / 4 if shape == "cross" else 0.0)):
            draw.polygon(bar, fill=255)
    else:
        raise DataPrepError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    return mask


def _down(image: Image.Image) -> np.ndarray:
    return np.asarray(image.resize((SIZE, SIZE), Image.LANCZOS), dtype=np.float64)


def render(style: str, mask: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The 32x32 RGB uint8 image of ``mask`` in ``style``."""
    if style == "solid":
        m = _down(mask)[..., None] / 255.0
        foreground, background = _contrasting_colours(rng)
        image = background * (1 - m) + foreground * m
    elif style == "sketch":
        edges = mask.filter(ImageFilter.FIND_EDGES)
        lines = Image.new("L", mask.size, 0)
        for _ in range(int(rng.integers(2, 4))):
            shift = tuple(int(v) for v in rng.integers(-SCALE * 2, SCALE * 2 + 1, size=2))
            lines.paste(255, shift, edges.filter(ImageFilter.MaxFilter(2 * SCALE + 1)))
        m = _down(lines)[..., None] / 255.0
        paper, ink = rng.uniform(215, 255, size=3), rng.uniform(0, 80, size=3)
        image = paper * (1 - m) + ink * m
    elif style == "stipple":
        inside = _down(mask) / 255.0
        density = 0.08 + 0.5 * inside
        image = np.repeat(np.where(rng.random((SIZE, SIZE)) < density, 0.0, 255.0)[..., None], 3, axis=2)
    elif style == "photo":
        m = _down(mask)[..., None] / 255.0
        background = np.asarray(Image.fromarray(_photo_crop(rng).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2)),
                                dtype=np.float64)
        image = background * (1 - m) + _photo_crop(rng) * m
    else:
        raise DataPrepError(f"unknown shapes style {style!r}; known: {', '.join(STYLES)}")
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def generate(root: str | Path, seed: int = 0, domains=STYLES, per_class: int = 30) -> Path:
    """Write shapes-dg at ``root``: ``per_class`` images of each shape per domain; return ``root``."""
    domains = tuple(domains)
    unknown = [d for d in domains if d not in STYLES]
    if unknown or len(set(domains)) != len(domains) or not domains:
        raise DataPrepError(f"shapes domains must be distinct names among {', '.join(STYLES)}; got {', '.join(domains)}")
    root = Path(root)
    for domain in domains:
        rng = np.random.default_rng([seed, zlib.crc32(domain.encode())])
        for label in SHAPES:
            folder = root / domain / label
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                Image.fromarray(render(domain, shape_mask(label, rng), rng), "RGB").save(folder / f"{n:04d}.png")
    return root
