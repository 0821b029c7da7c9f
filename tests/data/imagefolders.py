"""Real image folders for data tests, written in tmp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image_folder(root: Path, domains, classes, per_class: int = 2, size=(24, 32), ext: str = "png",
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``root/<domain>/<class>/<n>.<ext>`` RGB images; return relpath -> written pixels."""
    rng = np.random.default_rng(seed)
    written = {}
    for domain in domains:
        for cls in classes:
            (root / domain / cls).mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                relpath = f"{domain}/{cls}/{n:03d}.{ext}"
                Image.fromarray(pixels).save(root / relpath, quality=95)
                written[relpath] = pixels
    return written


def all_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden ones included), relative, sorted; [] if it is absent."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
