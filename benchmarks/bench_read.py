"""Training-read throughput: HDF5 shards (fixclr.data.DomainImages) vs a PIL image folder.

The baseline decodes each JPEG with PIL and resizes it to the shard size, as Dassl and
DomainBed loaders do. Both datasets return ``(uint8 HxWx3, label)`` from the same images and go
through the same DataLoader settings (batch, workers, shuffle). Shards are written with each
``--compression`` choice of ``fixclr prep`` to decide the default.

    .venv/bin/python benchmarks/bench_read.py            # 3,000 images, 2 epochs each
    .venv/bin/python benchmarks/bench_read.py --quick    # 600 images
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from data_prep.ingest import IngestSettings, available_cores, ingest_domain
from data_prep.layout import scan_layout
from data_prep.manifest import write_manifest
from data_prep.shards import COMPRESSIONS
from data_prep.synthetic import write_jpeg_folder
from fixclr.data import DomainImages


class PILFolder:
    """The baseline: decode and resize one image file per item with PIL."""

    def __init__(self, root: Path, files, image_size: int):
        self.items = [(str(root / f.relpath), f.label) for f in files]
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, label = self.items[index]
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
        return np.asarray(rgb), label


def images_per_second(dataset, batch_size: int, workers: int, epochs: int) -> float:
    """Read ``epochs`` shuffled epochs through a DataLoader; images per wall-clock second."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for images, _labels in loader:
            seen += len(images)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 images, 1 epoch")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=224, help="side of the images the loader returns")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=available_cores(), help="DataLoader workers")
    args = parser.parse_args()
    count, epochs = (600, 1) if args.quick else (args.images, args.epochs)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # PIL's read-only arrays
    with tempfile.TemporaryDirectory(prefix="bench_read_") as tmp:
        tmp = Path(tmp)
        root = write_jpeg_folder(tmp / "root", count, size=args.size)
        layout = scan_layout(root)
        domain = layout.domains[0]
        datasets, sizes = {"pil-folder": PILFolder(root, layout.files[domain], args.image_size)}, {}
        sizes["pil-folder"] = sum((root / f.relpath).stat().st_size for f in layout.files[domain])
        for compression in COMPRESSIONS:
            out = tmp / f"shards-{compression}"
            settings = IngestSettings(dataset="bench", image_size=(args.image_size,) * 2, compression=compression)
            record = ingest_domain(layout, domain, out, settings, progress=False)
            datasets[f"hdf5 {compression}"] = DomainImages(write_manifest(out), domain)
            sizes[f"hdf5 {compression}"] = sum(s["bytes"] for s in record["shards"])
        images_per_second(datasets["pil-folder"], args.batch_size, args.workers, 1)  # warm the page cache
        rate = {name: images_per_second(ds, args.batch_size, args.workers, epochs) for name, ds in datasets.items()}
    print(f"read {count} images ({args.size}px JPEG -> {args.image_size}px), {epochs} epoch(s), batch "
          f"{args.batch_size}, {args.workers} DataLoader workers, shuffled:")
    for name, value in rate.items():
        print(f"  {name:<11} {value:8.0f} images/s  {value / rate['pil-folder']:6.2f}x  "
              f"{sizes[name] / 2**20:7.1f} MiB on disk")
    print(f"ratio HDF5 (default, no compression) / PIL folder: {rate['hdf5 none'] / rate['pil-folder']:.2f}x")


if __name__ == "__main__":
    main()
