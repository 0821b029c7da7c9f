"""Images/s delivered to the training step (uint8 batch, before augmentation): stream vs memory mode.

For the demo (32x32) and a DomainNet-shaped synthetic dataset (224x224), in one run:
  - page cache: the shards' bytes read with ``numpy.fromfile`` (warm), as images/s (the reference);
  - h5py rows: one ``read_direct`` per image (the DataLoader path before stream mode);
  - stream: ``StreamBatches.step`` (StepSampler batches, DataLoader workers, prefetch);
  - memory: ``MemoryBatches.step`` (gathers from the images in memory), and the fold's load time;
and the demo's FixMatch step time (wall and CPU) in both modes.

    .venv/bin/python benchmarks/bench_stream.py                     # generates both datasets in a temp dir
    .venv/bin/python benchmarks/bench_stream.py --manifest224 M --split224 S   # reuse a prepared one
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from data_prep.cli import demo_main, manifest_main, prep_main, splits_main
from fixclr.config import resolve
from fixclr.data import DomainImages, load_manifest
from fixclr.data.loader import StepSampler, load_fold
from fixclr.data.stream import MemoryBatches, StreamBatches
from fixclr.engine import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from domainnet_like import write_domainnet_like  # noqa: E402


def prepare(root: Path, out: Path, dataset: str, size: int, labels: int, storage: str = "raw") -> tuple[Path, Path]:
    """prep, manifest and splits of an image folder; returns (manifest, split)."""
    common = ["--workers", "2", "--no-progress", "--image-size", str(size), "--storage", storage]
    assert prep_main(["--root", str(root), "--dataset", dataset, "--out", str(out), *common]) == 0
    assert manifest_main(["--out", str(out)]) == 0
    split = out / "split.json"
    assert splits_main(["--manifest", str(out / "manifest.json"), "--seed", "0", "--labels-per-class", str(labels),
                        "--out", str(split)]) == 0
    return out / "manifest.json", split


def page_cache_rate(manifest_path: Path) -> float:
    """Images/s of ``numpy.fromfile`` over every shard, after a first read warmed the page cache."""
    manifest, folder = load_manifest(manifest_path), manifest_path.parent
    files = [folder / s["file"] for d in manifest["domains"].values() for s in d["shards"]]
    count = sum(d["count"] for d in manifest["domains"].values())
    for f in files:
        np.fromfile(f, dtype=np.uint8)
    start = time.perf_counter()
    for f in files:
        np.fromfile(f, dtype=np.uint8)
    return count / (time.perf_counter() - start)


def h5py_rows_rate(manifest_path: Path, batch: int, batches: int) -> float:
    """Images/s of one h5py ``read_direct`` per random image (sorted per batch), as before stream mode."""
    domain = sorted(load_manifest(manifest_path)["domains"])[0]
    images = DomainImages(manifest_path, domain)
    rng, out = np.random.default_rng(0), np.empty((batch, *images.image_shape), dtype=np.uint8)
    start = time.perf_counter()
    for _ in range(batches):
        for slot, index in enumerate(np.sort(rng.choice(len(images), batch))):
            images._read_into(out[slot], int(index))
    return batch * batches / (time.perf_counter() - start)


def delivered_rate(source, steps: int) -> float:
    """Images/s of ``source.step`` over ``steps`` steps (after a first step that starts the reader)."""
    source.step(0)
    start, seen = time.perf_counter(), 0
    for step in range(1, steps + 1):
        _, labeled, unlabeled = source.step(step)
        seen += len(labeled) + len(unlabeled)
    return seen / (time.perf_counter() - start)


def read_rates(name: str, manifest: Path, split: Path, target: str, args) -> None:
    cfg = resolve({"manifest": str(manifest), "split": str(split), "target_domain": target, "out_dir": "unused"})
    cpu = torch.device("cpu")
    start = time.perf_counter()
    memory = load_fold({**cfg, "data_mode": "memory"})
    load_s = time.perf_counter() - start
    disk_mb = sum(s["bytes"] for d in load_manifest(manifest)["domains"].values() for s in d["shards"]) / 2**20
    stream = load_fold({**cfg, "data_mode": "stream"})
    sampler = StepSampler(0, memory.labeled_sizes, len(memory.unlabeled), args.batch_size, args.mu)
    per_step = sampler.batch_size + sampler.unlabeled_batch
    rates = {"page cache (numpy.fromfile)": page_cache_rate(manifest),
             "h5py read_direct per image": h5py_rows_rate(manifest, per_step, args.steps // 2 or 1)}
    for workers in sorted({0, args.workers}):
        source = StreamBatches(stream, sampler, cpu, 0, 1, args.steps + 1, workers, args.prefetch)
        rates[f"stream, {workers} workers"] = delivered_rate(source, args.steps)
    rates["memory (gather in memory)"] = delivered_rate(MemoryBatches(memory, sampler, cpu, 0, 1), args.steps)
    reference = rates["page cache (numpy.fromfile)"]
    size = memory.image_size
    print(f"\n{name}: {size}x{size}, {sum(load_manifest(manifest)['domains'][d]['count'] for d in load_manifest(manifest)['domains'])} "
          f"images, {per_step} images per step (batch {args.batch_size}, mu {args.mu}), {args.steps} steps")
    for label, rate in rates.items():
        print(f"  {label:<30} {rate:10.0f} images/s  {rate / reference:6.2f}x page cache")
    print(f"  memory mode load_fold: {load_s:.2f} s; shards {disk_mb:.0f} MiB on disk")


def demo_step_rate(manifest: Path, split: Path, steps: int, workers: int) -> None:
    """The demo's FixMatch step time (wall and CPU of the training process) in memory vs stream mode."""
    cpu, times = torch.device("cpu"), {}
    for mode, num_workers in (("memory", 0), ("stream", 0), ("stream", workers)):
        cfg = resolve({"manifest": str(manifest), "split": str(split), "target_domain": "mono", "out_dir": "unused",
                       "steps": steps + 1, "data_mode": mode, "num_workers": num_workers})
        trainer = Trainer(cfg, load_fold(cfg, device=cpu), cpu)
        trainer.train_step()  # starts the reader
        wall, process = time.perf_counter(), time.process_time()
        for _ in range(steps):
            trainer.train_step()
        times[f"{mode}, {num_workers} workers"] = ((time.perf_counter() - wall) / steps, (time.process_time() - process) / steps)
    print(f"\ndemo FixMatch step ({steps} steps, 1 thread; CPU: this process only, workers excluded):")
    base_wall, base_cpu = times["memory, 0 workers"]
    for mode, (wall, process) in times.items():
        print(f"  {mode:<18} wall {wall * 1e3:6.1f} ms ({wall / base_wall:.3f}x memory)  CPU {process * 1e3:6.1f} ms "
              f"({process / base_cpu:.3f}x memory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images224", type=int, default=2400, help="size of the generated 224x224 dataset")
    parser.add_argument("--manifest224", type=Path, help="a prepared 224x224 manifest instead of generating one")
    parser.add_argument("--split224", type=Path)
    parser.add_argument("--jpeg-manifest224", type=Path, help="the same images prepared with --storage jpeg")
    parser.add_argument("--jpeg-split224", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mu", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=2)
    parser.add_argument("--demo-steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        tmp = Path(tmp)
        assert demo_main(["--out", str(tmp / "demo")]) == 0
        demo = prepare(tmp / "demo", tmp / "demo-shards", "digits-dg-mini", 32, 10)
        if args.manifest224:
            big, jpeg = (args.manifest224, args.split224), (args.jpeg_manifest224, args.jpeg_split224)
        else:
            write_domainnet_like(tmp / "dn", args.images224)
            big = prepare(tmp / "dn", tmp / "dn-shards", "DomainNet", 224, 1)
            jpeg = prepare(tmp / "dn", tmp / "dn-jpeg", "DomainNet", 224, 1, storage="jpeg")
        read_rates("demo", *demo, "mono", args)
        read_rates("DomainNet-shaped, raw", *big, "clipart", args)
        if jpeg[0]:
            read_rates("DomainNet-shaped, jpeg (PIL decode)", *jpeg, "clipart", args)
        demo_step_rate(*demo, args.demo_steps, args.workers)


if __name__ == "__main__":
    main()
