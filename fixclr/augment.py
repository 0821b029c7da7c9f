"""Batched, per-sample-seeded FixMatch augmentation that runs on the images' device.

``Augmenter(kind, flip, image_size, mean, std)(images, seeds)`` maps a uint8 batch (N, 3, H, W)
to a normalised float32 batch. Every random choice of sample n is a counter-based hash of
``seeds[n]`` (and of ``kind``, so a weak and a strong view with the same seed are independent
draws): the result of a sample never depends on the rest of the batch, the rank or the device.

* ``none``: normalisation only (evaluation).
* ``weak``: horizontal flip with probability 1/2 (if ``flip``; off for digits) and a translation
  by up to 12.5 % of the image size with reflect (default) or replicate padding (FixMatch's
  pad-and-crop), done as one exact integer gather.
* ``strong``: weak, then RandAugment with FixMatch's operation set (2 operations drawn uniformly,
  each with a uniformly random magnitude in the ranges of the FixMatch paper, table 12), then
  Cutout (a gray square of side up to half the image size).

Operations are vectorised: samples are grouped by operation and each group is transformed at
once with per-sample magnitudes (geometric ones by one ``affine_grid``/``grid_sample`` with
per-sample matrices, filling with gray).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import equalize_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("none", "weak", "strong")
TRANSLATE_FRACTION = 0.125  # weak pad-and-crop: up to 12.5 % of the image size
NUM_OPS = 2  # RandAugment operations per sample
GRAY = 0.5  # fill of geometric operations and Cutout

_MASK32 = 0xFFFFFFFF
_KIND_SALT = {"weak": 0x85EBCA6B, "strong": 0xC2B2AE35}
# Independent uniform streams per sample, one per random decision.
_FLIP, _SHIFT_X, _SHIFT_Y, _CUT_X, _CUT_Y, _CUT_SIZE = range(6)
_OP_STREAM = (6, 7)  # which operation, per RandAugment slot
_MAGNITUDE_STREAM = (8, 9)  # its magnitude, per slot
_NUM_STREAMS = 10


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """``x * constant mod 2**32`` for int64 ``x`` in [0, 2**32), without int64 overflow."""
    low, high = x & 0xFFFF, x >> 16
    return (low * constant + (((high * constant) & 0xFFFF) << 16)) & _MASK32


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """Chris Wellons' ``lowbias32`` integer hash, exact on every device."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def seeded_uniforms(seeds: torch.Tensor, salt: int, num_streams: int) -> torch.Tensor:
    """(N, num_streams) float32 uniforms in [0, 1), a pure function of each int64 seed and ``salt``."""
    low = seeds & _MASK32
    high = (seeds >> 32) & _MASK32
    key = _hash32(low ^ _hash32(high ^ salt))
    streams = torch.arange(1, num_streams + 1, device=seeds.device, dtype=torch.int64)
    counters = _mul32(streams, 0x9E3779B9)  # golden-ratio spacing of the stream counters
    bits = _hash32(key[:, None] ^ counters[None, :])
    return (bits >> 8).to(torch.float32) * 2.0**-24


def _randint(u: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Integers uniform in [low, high] from uniforms ``u`` in [0, 1)."""
    return (u * (high - low + 1)).floor().long().clamp(max=high - low) + low


def _symmetric(u: torch.Tensor, bound: float) -> torch.Tensor:
    """Values uniform in [-bound, bound] from uniforms ``u``."""
    return (2.0 * u - 1.0) * bound


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect-padding source index (``torch.nn.functional.pad(mode='reflect')`` convention)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def _replicate(index: torch.Tensor, size: int) -> torch.Tensor:
    """Replicate-padding source index: the nearest edge pixel."""
    return index.clamp(0, size - 1)


PADDINGS = {"reflect": _reflect, "replicate": _replicate}  # weak view's pad-and-crop: name -> source index


def flip_and_translate(images: torch.Tensor, u: torch.Tensor, flip: bool, max_shift: int,
                       padding: str = "reflect") -> torch.Tensor:
    """Weak augmentation as one gather: optional horizontal flip, shift by up to ``max_shift`` pixels
    with ``padding`` (a name in ``PADDINGS``) filling the pixels shifted in."""
    n, channels, height, width = images.shape
    pad = PADDINGS[padding]
    shift_y = _randint(u[:, _SHIFT_Y], -max_shift, max_shift)
    shift_x = _randint(u[:, _SHIFT_X], -max_shift, max_shift)
    rows = pad(torch.arange(height, device=images.device)[None, :] + shift_y[:, None], height)
    cols = pad(torch.arange(width, device=images.device)[None, :] + shift_x[:, None], width)
    if flip:
        cols = torch.where(u[:, _FLIP, None] < 0.5, width - 1 - cols, cols)
    index = (rows[:, :, None] * width + cols[:, None, :]).flatten(1)
    gathered = images.flatten(2).gather(2, index[:, None, :].expand(n, channels, -1))
    return gathered.view(n, channels, height, width)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ``ImageEnhance``: ``degenerate + factor * (x - degenerate)``, clamped to [0, 1]."""
    return (degenerate + _per_sample(factor) * (x - degenerate)).clamp(0.0, 1.0)


def _enhance_factor(u: torch.Tensor) -> torch.Tensor:
    return 0.05 + 0.9 * u  # FixMatch: B in [0.05, 0.95]


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (3x3, centre weight 5, total 13); border pixels unchanged."""
    inner = (F.avg_pool2d(x, 3, stride=1) * 9.0 + 4.0 * x[:, :, 1:-1, 1:-1]) / 13.0
    out = x.clone()
    out[:, :, 1:-1, 1:-1] = inner
    return out


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Bilinear warp by per-sample (n, 2, 3) matrices (output -> input coordinates), gray fill."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - GRAY, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + GRAY


def _matrix(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor, tx: torch.Tensor,
            ty: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.stack([a, b, tx], 1), torch.stack([c, d, ty], 1)], 1)


def _rotate(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    angle = _symmetric(u, math.radians(30.0))
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(u)
    return _affine(x, _matrix(cos, -sin, sin, cos, zero, zero))


def _shear(axis: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def shear(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        amount, one, zero = _symmetric(u, 0.3), torch.ones_like(u), torch.zeros_like(u)
        b, c = (amount, zero) if axis == 0 else (zero, amount)
        return _affine(x, _matrix(one, b, c, one, zero, zero))

    return shear


def _translate(axis: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def translate(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        shift = 2.0 * _symmetric(u, 0.3)  # 30 % of the size, in affine_grid's [-1, 1] units
        one, zero = torch.ones_like(u), torch.zeros_like(u)
        tx, ty = (shift, zero) if axis == 0 else (zero, shift)
        return _affine(x, _matrix(one, zero, zero, one, tx, ty))

    return translate


def _autocontrast(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    spread = high - low
    return torch.where(spread > 0, (x - low) / spread.clamp(min=1e-12), x)


def _posterize(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    bits = _randint(u, 4, 8)
    keep = 256 - torch.pow(2, 8 - bits)  # mask of the top ``bits`` bits
    return ((x * 255.0).round().long() & _per_sample(keep)).to(x.dtype) / 255.0


RANDAUGMENT_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Identity": lambda x, u: x,
    "AutoContrast": _autocontrast,
    "Equalize": lambda x, u: equalize_image(x),
    "Rotate": _rotate,
    "Solarize": lambda x, u: torch.where(x >= _per_sample(u), 1.0 - x, x),
    "Color": lambda x, u: _blend(_grayscale(x), x, _enhance_factor(u)),
    "Posterize": _posterize,
    "Contrast": lambda x, u: _blend(_grayscale(x).mean(dim=(1, 2, 3), keepdim=True), x, _enhance_factor(u)),
    "Brightness": lambda x, u: _blend(torch.zeros_like(x), x, _enhance_factor(u)),
    "Sharpness": lambda x, u: _blend(_smooth(x), x, _enhance_factor(u)),
    "ShearX": _shear(0),
    "ShearY": _shear(1),
    "TranslateX": _translate(0),
    "TranslateY": _translate(1),
}
"""FixMatch's RandAugment pool: name -> f(images in [0, 1], per-sample uniforms) -> images."""


def randaugment(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Apply ``NUM_OPS`` operations per sample, grouping the samples that drew the same operation.

    Modifies ``x`` (float images in [0, 1]) in place and returns it.
    """
    for slot in range(NUM_OPS):
        choice = _randint(u[:, _OP_STREAM[slot]], 0, len(RANDAUGMENT_OPS) - 1)
        magnitude = u[:, _MAGNITUDE_STREAM[slot]]
        order = torch.argsort(choice, stable=True)
        counts = torch.bincount(choice, minlength=len(RANDAUGMENT_OPS)).tolist()  # the one host sync per slot
        for name, members in zip(RANDAUGMENT_OPS, torch.split(order, counts)):
            if members.numel() and name != "Identity":  # groups are disjoint: in-place update is safe
                x[members] = RANDAUGMENT_OPS[name](x[members], magnitude[members])
    return x


def cutout(x: torch.Tensor, u: torch.Tensor, max_fraction: float = 0.5) -> torch.Tensor:
    """Gray square of side ``floor(L * size)``, ``L`` uniform in [0, max_fraction], at a random centre."""
    _, _, height, width = x.shape
    side = (u[:, _CUT_SIZE] * max_fraction * min(height, width)).floor().long()
    top = _randint(u[:, _CUT_Y], 0, height - 1) - side // 2
    left = _randint(u[:, _CUT_X], 0, width - 1) - side // 2
    rows = torch.arange(height, device=x.device)[None, :]
    cols = torch.arange(width, device=x.device)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + side)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + side)[:, None])
    inside = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]
    return x.masked_fill(inside, GRAY)


class Augmenter:
    """Callable mapping (uint8 images (N, 3, H, W), int64 seeds (N,)) to normalised float32 images."""

    def __init__(
        self,
        kind: str,
        flip: bool,
        image_size: int,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        padding: str = "reflect",
    ):
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {KINDS}")
        if padding not in PADDINGS:
            raise ValueError(f"padding={padding!r}: expected one of {tuple(PADDINGS)}")
        if image_size < 2:
            raise ValueError(f"image_size={image_size!r}: must be >= 2")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean={mean!r}, std={std!r}: expected 3 values each, std > 0")
        self.kind = kind
        self.flip = flip
        self.image_size = image_size
        self.padding = padding
        self.max_shift = round(TRANSLATE_FRACTION * image_size)
        # normalised = x * scale + shift for x in [0, 1]
        self.scale = 1.0 / torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.shift = -torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * self.scale

    def __repr__(self) -> str:
        return f"Augmenter(kind={self.kind!r}, flip={self.flip}, image_size={self.image_size})"

    def __call__(self, images: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """Augment and normalise ``images`` on their device; sample n's randomness comes from ``seeds[n]``."""
        self._check(images, seeds)
        scale, shift = self.scale.to(images.device), self.shift.to(images.device)
        if self.kind != "none":
            u = seeded_uniforms(seeds.to(images.device), _KIND_SALT[self.kind], _NUM_STREAMS)
            images = flip_and_translate(images, u, self.flip, self.max_shift, self.padding)
        if self.kind != "strong":  # one fused pass from uint8
            return torch.addcmul(shift, images.to(torch.float32), scale / 255.0)
        x = cutout(randaugment(images.to(torch.float32) / 255.0, u), u)
        return torch.addcmul(shift, x, scale)

    def _check(self, images: torch.Tensor, seeds: torch.Tensor) -> None:
        expected = (3, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected or images.dtype != torch.uint8:
            raise ValueError(
                f"images: expected uint8 of shape (N, {', '.join(map(str, expected))}), "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        if seeds.shape != images.shape[:1] or seeds.dtype != torch.int64:
            raise ValueError(
                f"seeds: expected int64 of shape ({images.shape[0]},), got {seeds.dtype} {tuple(seeds.shape)}"
            )
