"""Ingest throughput: images/s of ``fixclr prep`` with 1 decoding process vs all cores.

Generates a folder of photo-like 256x256 JPEGs (data_prep/synthetic.py), then ingests the same
folder twice through ``data_prep.ingest.ingest_domain`` (the code ``fixclr prep`` runs), into
fresh output folders, and prints images/s and the speed-up.

    .venv/bin/python benchmarks/bench_ingest.py            # 5,000 images
    .venv/bin/python benchmarks/bench_ingest.py --quick    # 600 images
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from data_prep.ingest import IngestSettings, available_cores, ingest_domain
from data_prep.layout import scan_layout
from data_prep.synthetic import write_jpeg_folder


def timed_ingest(root: Path, out: Path, image_size: int, workers: int) -> float:
    """Seconds to ingest the single domain of ``root`` into ``out`` with ``workers`` processes."""
    start = time.perf_counter()
    layout = scan_layout(root)
    settings = IngestSettings(dataset="bench", image_size=(image_size, image_size))
    ingest_domain(layout, layout.domains[0], out, settings, workers=workers, progress=False)
    return time.perf_counter() - start


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def cpu_scaling(workers: int, tasks: int = 8, iterations: int = 1_000_000) -> float:
    """Speed-up of a pure-Python loop in ``workers`` processes over 1: the ceiling on a shared machine."""
    start = time.perf_counter()
    for _ in range(tasks):
        _spin(iterations)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        start = time.perf_counter()
        pool.map(_spin, [iterations] * tasks)
        parallel = time.perf_counter() - start
    return serial / parallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 images instead of --images")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=224, help="side of the ingested images")
    parser.add_argument("--workers", type=int, default=available_cores(), help="the 'all cores' setting")
    args = parser.parse_args()
    count = 600 if args.quick else args.images
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        root = write_jpeg_folder(tmp / "root", count, size=args.size)
        print(f"generated {count} JPEGs of {args.size}x{args.size} in {time.perf_counter() - start:.1f} s")
        timed_ingest(root, tmp / "warm", args.image_size, 1)  # page cache and imports warm for both runs
        seconds = {w: timed_ingest(root, tmp / f"out{w}", args.image_size, w) for w in (1, args.workers)}
    rate = {w: count / s for w, s in seconds.items()}
    print(f"ingest -> {args.image_size}x{args.image_size} HDF5, {count} images:")
    for workers, value in rate.items():
        print(f"  {workers:2d} worker(s): {value:8.0f} images/s  ({seconds[workers]:.1f} s)")
    print(f"  speed-up {args.workers} vs 1: {rate[args.workers] / rate[1]:.2f}x")
    print(f"  control: a pure CPU loop runs {cpu_scaling(args.workers):.2f}x faster in {args.workers} processes "
          "than in 1 right now (the ceiling on this machine)")


if __name__ == "__main__":
    main()
