"""The prepared GPU check: everything the GPU path needs verified, in at most 8 minutes on one GPU.

Prints one line per stage and a short report:
  1. the gpu-marked tests (tests/gpu);
  2. a demo fold (FixMatch+FixCLR, digits-dg-mini) on CUDA to completion in bf16 and in fp16;
  3. kill-and-resume of a CUDA fold: SIGKILL after a checkpoint, restart, accuracies equal to an
     uninterrupted run within RESUME_TOLERANCE points (cuDNN is not bitwise deterministic);
  4. a 1-process NCCL run under torchrun (process group, all-reduce, a DDP step; then `fixclr train`);
  5. ResNet-50 224x224 FixMatch+FixCLR training images/s, eager and compiled (random init,
     synthetic images: nothing from the internet), and peak GPU memory.

    .venv/bin/python benchmarks/gpu_check.py             # on a GPU node
    .venv/bin/python benchmarks/gpu_check.py --dry-run   # the same plan on CPU at tiny sizes (a test runs it)

The dry run uses the CPU, gloo for NCCL, CPU autocast for bf16/fp16, ResNet-50 at 64x64 with a
batch of 2 and no compile (inductor needs minutes on a CPU); it proves the plan runs, not the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESUME_TOLERANCE = 2.0  # accuracy points between a resumed and an uninterrupted CUDA fold


def fold_config(work: Path, dry_run: bool, **keys) -> dict:
    """A FixMatch+FixCLR demo fold (target mono) on the check's device."""
    data = work / "data"
    steps, evals = (4, 1) if dry_run else (300, 3)  # CPU fp16 is slow: one evaluation in the dry run
    return {"manifest": str(data / "shards" / "manifest.json"), "split": str(data / "split.json"),
            "target_domain": "mono", "method": "fixmatch", "regularizer": "fixclr", "steps": steps,
            "eval_every": steps // evals, "checkpoint_every": steps // evals, "device": "cpu" if dry_run else "cuda",
            "threads": 1 if dry_run else 0, **keys}


def prepare_demo(work: Path) -> None:
    """digits-dg-mini (4 domains), ingested at 32x32 and split (10 labels per class)."""
    from data_prep.cli import demo_main, manifest_main, prep_main, splits_main

    data = work / "data"
    for command, argv in [
        (demo_main, ["--out", str(data / "images")]),
        (prep_main, ["--root", str(data / "images"), "--dataset", "digits-dg-mini", "--out", str(data / "shards"),
                     "--image-size", "32", "--workers", "2", "--no-progress"]),
        (manifest_main, ["--out", str(data / "shards")]),
        (splits_main, ["--manifest", str(data / "shards" / "manifest.json"), "--seed", "0", "--labels-per-class", "10",
                       "--out", str(data / "split.json")]),
    ]:
        if command(argv) != 0:
            raise RuntimeError(f"{command.__name__} {' '.join(argv)} failed")


def gpu_tests(work: Path, dry_run: bool) -> str:
    """The gpu-marked tests (they skip without CUDA: in a dry run this only proves they collect)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/gpu"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
    if done.returncode not in (0, 5 if dry_run else 0):
        raise RuntimeError(f"gpu tests failed: {summary}\n{done.stdout[-3000:]}")
    return summary


def demo_fold(work: Path, dry_run: bool, precision: str) -> str:
    from fixclr.precision import cuda_has_bf16
    from fixclr.train import run_fold

    if precision == "bf16" and not dry_run and not cuda_has_bf16(torch.device("cuda")):
        return "skipped: this GPU has no bf16"
    result = run_fold(fold_config(work, dry_run, precision=precision, out_dir=str(work / f"fold-{precision}")))
    return f"acc_last {result['acc_last']:.2f}, {result['images_per_s']:.0f} img/s, {result['wall_s']:.1f} s"


def _train_command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fixclr.cli", "train", "--config", str(config), f"out_dir={out}"]


def kill_and_resume(work: Path, dry_run: bool) -> str:
    config = work / "resume.yaml"
    config.write_text(json.dumps(fold_config(work, dry_run, checkpoint_every=1 if dry_run else 50,
                                             out_dir=str(work / "unused"))))
    reference, killed = work / "resume-reference", work / "resume-killed"
    subprocess.run(_train_command(config, reference), check=True, capture_output=True, timeout=300)
    process = subprocess.Popen(_train_command(config, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoint.pt").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the fold ended (or stalled) before writing a checkpoint")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for late in ("done", "result.json"):  # the kill landed after the end: replay from the last checkpoint
        (killed / late).unlink(missing_ok=True)
    restarted = subprocess.run(_train_command(config, killed), capture_output=True, text=True, timeout=300)
    if restarted.returncode != 0 or "resuming from step" not in restarted.stdout:
        raise RuntimeError(f"restart did not resume: {restarted.stderr[-500:]}")
    step = restarted.stdout.split("resuming from step ")[1].split()[0]
    want, got = (json.loads((folder / "result.json").read_text()) for folder in (reference, killed))
    keys = ("acc_last", "acc_val", "acc_oracle")
    worst = max(abs(got[k] - want[k]) for k in keys)
    tolerance = 0.0 if dry_run else RESUME_TOLERANCE  # the CPU path is bitwise exact
    if worst > tolerance:
        raise RuntimeError(f"resumed accuracies differ by {worst:.2f} > {tolerance} points: {got} vs {want}")
    return f"killed, resumed from step {step}; max accuracy difference {worst:.2f} (tolerance {tolerance})"


def nccl_worker(dry_run: bool) -> None:
    """Run under torchrun: a process group, an all-reduce, and one DDP step of an SSLNet."""
    import torch.distributed as dist

    from fixclr.models import SSLNet, build_backbone

    device = torch.device("cpu") if dry_run else torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("gloo" if dry_run else "nccl", device_id=None if dry_run else device)
    try:
        x = torch.ones(4, device=device)
        dist.all_reduce(x)
        model = torch.nn.parallel.DistributedDataParallel(
            SSLNet(build_backbone("cnn", width=8), 10, "projection", 16).to(device),
            device_ids=None if dry_run else [device])
        logits, z = model(torch.rand(8, 3, 32, 32, device=device))
        (logits.sum() + z.sum()).backward()
        print(json.dumps({"backend": dist.get_backend(), "world_size": dist.get_world_size(),
                          "all_reduce": x.tolist()}))
    finally:
        dist.destroy_process_group()


def torchrun_nccl(work: Path, dry_run: bool) -> str:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--standalone"]
    worker = subprocess.run([*torchrun, __file__, "--nccl-worker", *(["--dry-run"] if dry_run else [])],
                            capture_output=True, text=True, timeout=180)
    if worker.returncode != 0:
        raise RuntimeError(f"torchrun worker failed: {worker.stderr[-800:]}")
    facts = json.loads(worker.stdout.strip().splitlines()[-1])
    config = work / "torchrun.yaml"
    config.write_text(json.dumps(fold_config(work, dry_run, steps=4, eval_every=2, checkpoint_every=2,
                                             out_dir=str(work / "torchrun"))))
    fold = subprocess.run([*torchrun, "-m", "fixclr.cli", "train", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    if fold.returncode != 0:
        raise RuntimeError(f"fixclr train under torchrun failed: {fold.stderr[-800:]}")
    return f"{facts['backend']} world size {facts['world_size']}, all-reduce ok, DDP step ok; fixclr train under torchrun ok"


def synthetic_fold(image_size: int, images: int, device: torch.device):
    """Random uint8 images in FoldData form: 3 source domains, 10 classes (throughput only)."""
    from fixclr.data.loader import FoldData, ImageSet

    generator = torch.Generator().manual_seed(0)

    def part(n: int) -> ImageSet:
        return ImageSet(torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8, generator=generator),
                        torch.arange(n) % 10)

    per_domain = images // 3
    return FoldData("synthetic", 10, [str(c) for c in range(10)], ["a", "b", "c"], "d", part(3 * per_domain),
                    [per_domain] * 3, part(3 * per_domain), {"a": part(10)}, part(10), image_size,
                    unlabeled_sizes=[per_domain] * 3).to(device)


def throughput(work: Path, dry_run: bool, compile_: bool) -> str:
    """Training images/s of ResNet-50 FixMatch+FixCLR (random init, synthetic data) and peak memory."""
    from fixclr.config import resolve
    from fixclr.engine import Trainer

    if compile_ and dry_run:
        return "skipped in the dry run (inductor takes minutes on a CPU)"
    device = torch.device("cpu") if dry_run else torch.device("cuda")
    size, batch, steps, warmup = (64, 2, 2, 1) if dry_run else (224, 32, 20, 5)
    cfg = resolve({"manifest": "-", "split": "-",
                   "target_domain": "d", "out_dir": str(work / "throughput"), "backbone": "resnet50",
                   "method": "fixmatch", "regularizer": "fixclr", "batch_size": batch, "mu": 2,
                   "steps": steps + warmup, "compile": compile_})
    trainer = Trainer(cfg, synthetic_fold(size, 64 if dry_run else 3 * batch * 7, device), device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        trainer.train_step()
    trainer.step_figures()  # waits for the device
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    trainer.step_figures()
    rate = trainer.images_per_step() * steps / (time.perf_counter() - start)
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
    return f"{rate:.0f} img/s at {size}x{size}, {trainer.images_per_step()} images/step, {trainer.precision}{peak}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the same plan on CPU at tiny sizes")
    parser.add_argument("--work", type=Path, help="folder for data and runs (default: a temporary one)")
    parser.add_argument("--nccl-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nccl_worker:
        nccl_worker(args.dry_run)
        return 0
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; run with --dry-run to check the plan on CPU", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="fixclr-gpu-check-"))
    stages = [
        ("gpu-marked tests", lambda: gpu_tests(work, args.dry_run)),
        ("demo data", lambda: prepare_demo(work) or "digits-dg-mini at 32x32"),
        ("demo fold bf16", lambda: demo_fold(work, args.dry_run, "bf16")),
        ("demo fold fp16", lambda: demo_fold(work, args.dry_run, "fp16")),
        ("kill and resume", lambda: kill_and_resume(work, args.dry_run)),
        ("torchrun NCCL" if not args.dry_run else "torchrun gloo", lambda: torchrun_nccl(work, args.dry_run)),
        ("ResNet-50 eager", lambda: throughput(work, args.dry_run, compile_=False)),
        ("ResNet-50 compiled", lambda: throughput(work, args.dry_run, compile_=True)),
    ]
    device = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name()
    print(f"fixclr GPU check on {device}, torch {torch.__version__}, work folder {work}", flush=True)
    report, started = [], time.perf_counter()
    for name, stage in stages:
        tick = time.perf_counter()
        try:
            status, text = "ok", stage()
        except Exception as error:  # every stage reports; one failure does not hide the others
            status, text = "FAIL", f"{type(error).__name__}: {error}"
        line = f"{status:4} {name:<20} {time.perf_counter() - tick:6.1f} s  {text}"
        report.append(line)
        print(line, flush=True)
    failed = sum(line.startswith("FAIL") for line in report)
    print(f"\n== report ({time.perf_counter() - started:.0f} s, {len(report) - failed}/{len(report)} stages ok) ==")
    print("\n".join(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
