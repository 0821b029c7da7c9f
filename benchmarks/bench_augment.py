"""Images/s of the batched augmenter vs a per-sample PIL + torchvision loop on the same images.

The baseline is what a classic FixMatch data loader does per image: PIL image -> flip ->
reflect-pad-and-crop -> (strong: torchvision RandAugment, 2 ops) -> tensor -> normalise ->
(strong: Cutout as RandomErasing of up to a quarter of the area). Both run in this process on the same uint8 batch;
the batched augmenter runs on ``--device`` (CUDA when available).

    .venv/bin/python benchmarks/bench_augment.py [--images 1024] [--batch 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image
from torchvision import transforms

from fixclr.augment import IMAGENET_MEAN, IMAGENET_STD, Augmenter


def pil_pipeline(kind: str, image_size: int) -> transforms.Compose:
    """The per-sample reference pipeline of one view kind."""
    steps = [transforms.RandomHorizontalFlip(),
             transforms.RandomCrop(image_size, padding=round(0.125 * image_size), padding_mode="reflect")]
    if kind == "strong":
        steps.append(transforms.RandAugment(num_ops=2))
    steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if kind == "strong":
        steps.append(transforms.RandomErasing(p=1.0, scale=(0.0, 0.25), ratio=(1.0, 1.0), value=0.0))
    return transforms.Compose(steps)


def per_sample_rate(images: torch.Tensor, kind: str) -> float:
    """Images/s of the PIL loop (conversion from the uint8 tensor included)."""
    pipeline = pil_pipeline(kind, images.shape[-1])
    arrays = images.permute(0, 2, 3, 1).numpy()
    start = time.perf_counter()
    torch.stack([pipeline(Image.fromarray(array)) for array in arrays])
    return len(images) / (time.perf_counter() - start)


def batched_rate(images: torch.Tensor, kind: str, batch: int, device: torch.device, repeats: int) -> float:
    """Images/s of ``Augmenter`` on ``device`` in chunks of ``batch`` (after one warm-up pass)."""
    augment = Augmenter(kind, True, images.shape[-1])
    images = images.to(device)
    seeds = torch.arange(len(images), device=device)

    def one_pass() -> None:
        for start in range(0, len(images), batch):
            augment(images[start:start + batch], seeds[start:start + batch])
        if device.type == "cuda":
            torch.cuda.synchronize()

    one_pass()
    start = time.perf_counter()
    for _ in range(repeats):
        one_pass()
    return repeats * len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=512, help="images per Augmenter call")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of the batched augmenter")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    images = torch.randint(0, 256, (args.images, 3, args.image_size, args.image_size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    print(f"{args.images} images {args.image_size}x{args.image_size}, batched on {device} "
          f"(chunks of {args.batch}), PIL loop on 1 CPU process, threads={args.threads}")
    for kind in ("weak", "strong"):
        baseline = per_sample_rate(images, kind)
        batched = batched_rate(images, kind, args.batch, device, args.repeats)
        print(f"{kind:6s} PIL loop {baseline:10.0f} img/s   batched {batched:10.0f} img/s   ratio {batched / baseline:6.1f}x")


if __name__ == "__main__":
    main()
