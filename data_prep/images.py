"""Decode one image file into a ``uint8 (H, W, 3)`` RGB array of the configured size.

Every colour mode becomes RGB (CMYK, palette, 16-bit, grayscale, with or without alpha),
EXIF orientation is applied, and anything PIL cannot fully decode is a ``BadImage`` whose
message says why.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, ImageOps

RESIZE_POLICIES = ("stretch", "center-crop")
ALPHA_BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class BadImage(Exception):
    """A file that is not a decodable image; the message is the reason."""


def describe_policy(policy: str) -> str:
    """The ``resize_policy`` attribute written into shards and the manifest."""
    if policy not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy {policy!r}; known: {', '.join(RESIZE_POLICIES)}")
    how = "resize to HxW ignoring aspect" if policy == "stretch" else "resize shorter side, center crop"
    return f"{policy}: {how}, bicubic; EXIF orientation applied; alpha over white"


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` as 8-bit RGB: 16/32-bit grey rescaled to 0..255, alpha composited over white."""
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _resize(img: Image.Image, height: int, width: int, policy: str) -> Image.Image:
    if img.size == (width, height):
        return img
    if policy == "center-crop":
        scale = max(width / img.width, height / img.height)
        w, h = max(width, round(img.width * scale)), max(height, round(img.height * scale))
        left, top = (w - width) // 2, (h - height) // 2
        return img.resize((w, h), Image.BICUBIC).crop((left, top, left + width, top + height))
    return img.resize((width, height), Image.BICUBIC)


def decode_image(path: str, height: int, width: int, policy: str = "stretch") -> np.ndarray:
    """Read ``path`` as a ``uint8 (height, width, 3)`` array; raise BadImage on any failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    # DCT-domain downscaling: decode at most 2x the target size (much faster).
                    side = 2 * max(height, width)
                    img.draft(img.mode, (side, side))
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _resize(to_rgb(img), height, width, policy)
    except Image.DecompressionBombWarning as err:
        raise BadImage(f"decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        reason = str(err) or type(err).__name__
        raise BadImage(f"cannot decode: {reason}") from None
    array = np.asarray(rgb, dtype=np.uint8)
    assert array.shape == (height, width, 3), array.shape
    return array
