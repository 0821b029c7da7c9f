"""A synthetic image folder shaped like DomainNet: its 6 domain names and 345 class names, any size.

Every (domain, class) cell gets one image, so the folder passes ``fixclr prep --preset DomainNet``
and a 1-label split exists; the remaining images go to the first ``--head-classes`` classes of
every domain (a long tail, like DomainNet's), which gives those classes validation images.

    .venv/bin/python benchmarks/domainnet_like.py --out /tmp/dn2400 --images 2400
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from data_prep.presets import PRESETS
from data_prep.synthetic import photo_like


def cell_of(n: int, domains: int, classes: int, head: int) -> tuple[int, int]:
    """(domain, class) of image ``n``: one per cell first, then round-robin over the head classes."""
    cells = domains * classes
    if n < cells:
        return n // classes, n % classes
    extra = n - cells
    return extra % domains, (extra // domains) % head


def write_domainnet_like(root: str | Path, images: int, size: int = 224, head_classes: int = 10, seed: int = 0,
                         quality: int = 90) -> Path:
    """Write ``images`` JPEGs as ``root/<domain>/<class>/<n>.jpg`` with DomainNet's names."""
    preset = PRESETS.get("DomainNet")
    domains, classes = preset.domains, preset.classes
    if images < len(domains) * len(classes):
        raise ValueError(f"a DomainNet-shaped folder needs at least {len(domains) * len(classes)} images "
                         f"(one per domain and class), got {images}")
    root, rng = Path(root), np.random.default_rng(seed)
    for n in range(images):
        d, c = cell_of(n, len(domains), len(classes), head_classes)
        folder = root / domains[d] / classes[c]
        folder.mkdir(parents=True, exist_ok=True)
        photo_like(rng, size).save(folder / f"{n:06d}.jpg", quality=quality)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="image folder to write")
    parser.add_argument("--images", type=int, default=2400)
    parser.add_argument("--size", type=int, default=224, help="side of the JPEGs")
    parser.add_argument("--head-classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = write_domainnet_like(args.out, args.images, args.size, args.head_classes, args.seed)
    print(f"wrote {args.images} images under {root}")


if __name__ == "__main__":
    main()
