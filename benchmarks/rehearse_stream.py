"""DomainNet-scale rehearsal: peak RSS and start-up of a ResNet-18 224x224 fold, memory vs stream, two sizes.

Each fold runs as ``fixclr train`` in its own process under ``/usr/bin/time -v`` (peak RSS). The
start-up time is process start to the first training step, for stream mode with a valid verify
stamp and without one (every shard hashed). A third fold per dataset runs at the shipped defaults
(``data_mode: auto``, no override) up to its first step, to show what auto picks there. By default
a fold stops after its training steps, before the final evaluation (``--stop none`` runs it whole).

    .venv/bin/python benchmarks/rehearse_stream.py --dataset SMALL_SHARDS --dataset LARGE_SHARDS
        (each a folder with manifest.json and split.json, e.g. from benchmarks/domainnet_like.py,
         fixclr prep --preset DomainNet, fixclr manifest, fixclr splits --labels-per-class 1)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from fixclr.data import load_manifest
from fixclr.data.stamp import stamp_path, verify_dataset

FOLD = {"backbone": "resnet18", "method": "fixmatch", "target_domain": "clipart", "steps": 3, "eval_every": 3,
        "checkpoint_every": 3, "batch_size": 5, "mu": 1, "eval_batch_size": 64, "threads": 2}


def child(config: str, stop: str) -> None:
    """Run ``fixclr train`` in this process, printing when the first training step starts.

    ``stop``: ``first-step`` exits there (start-up only), ``trained`` after the last training step
    (before the final evaluation), ``none`` runs the whole fold.
    """
    import fixclr.engine
    from fixclr.train import main

    step = fixclr.engine.Trainer.train_step

    def timed(self):
        if not hasattr(timed, "started"):
            timed.started = True
            print(f"first_step_at {time.time():.6f}", flush=True)
            if stop == "first-step":
                sys.exit(0)
        figures = step(self)
        if stop == "trained" and self.step == self.cfg["steps"]:
            sys.exit(0)
        return figures

    fixclr.engine.Trainer.train_step = timed
    sys.exit(main(["--config", config]))


def run(shards: Path, name: str, overrides: dict, tmp: Path, stop: str) -> dict:
    cfg = {**FOLD, "manifest": str(shards / "manifest.json"), "split": str(shards / "split.json"),
           "out_dir": str(tmp / name), **overrides}
    config = tmp / f"{name}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    command = ["/usr/bin/time", "-v", sys.executable, __file__, "--child", str(config), "--stop", stop]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 1024
    first = float(re.search(r"first_step_at ([\d.]+)", done.stdout).group(1))
    choice = re.search(r"data: (.*)", done.stdout).group(1)
    return {"peak_rss_mb": rss, "startup_s": first - started, "wall_s": time.time() - started, "data": choice}


def image_mb(shards: Path) -> float:
    manifest = load_manifest(shards / "manifest.json")
    height, width = manifest["image_size"]
    return sum(d["count"] for d in manifest["domains"].values()) * height * width * 3 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, action="append", help="shard folder (give two, 4x apart)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stop", choices=("first-step", "trained", "none"), default="trained",
                        help="end the measured folds before the final evaluation (default) or run them whole")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.stop)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rehearse_") as tmp:
        tmp = Path(tmp)
        for shards in args.dataset:
            verify_dataset(shards / "manifest.json")
            stream = {"data_mode": "stream", "num_workers": 1}
            row = {"dataset": shards.name, "images_mb": image_mb(shards),
                   "memory": run(shards, f"{shards.name}-memory", {"data_mode": "memory"}, tmp, args.stop),
                   "stream": run(shards, f"{shards.name}-stream", stream, tmp, args.stop),
                   "auto": run(shards, f"{shards.name}-auto", {}, tmp, "first-step")}
            stamp_path(shards / "manifest.json").unlink()
            row["stream_no_stamp"] = run(shards, f"{shards.name}-nostamp", stream, tmp, "first-step")
            verify_dataset(shards / "manifest.json")
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nResNet-18 224x224 FixMatch fold, 3 steps, batch 5 + 5 unlabeled, eval batch 64, stop: {args.stop}:")
    for row in rows:
        print(f"  {row['dataset']}: {row['images_mb']:.0f} MiB of images")
        for mode in ("memory", "stream", "auto", "stream_no_stamp"):
            r = row[mode]
            print(f"    {mode:<16} peak RSS {r['peak_rss_mb']:7.0f} MB  start-up {r['startup_s']:6.1f} s  ({r['data']})")
    if len(rows) == 2:
        small, large = rows
        added = large["images_mb"] - small["images_mb"]
        for mode in ("memory", "stream"):
            grew = large[mode]["peak_rss_mb"] - small[mode]["peak_rss_mb"]
            print(f"  {mode}: peak RSS +{grew:.0f} MB for +{added:.0f} MiB of images ({grew / added:.2f} of the added bytes)")
        for mode in ("memory", "stream", "stream_no_stamp"):
            print(f"  {mode}: start-up x{large[mode]['startup_s'] / small[mode]['startup_s']:.2f} for 4x the images")


if __name__ == "__main__":
    main()
