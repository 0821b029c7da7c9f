"""Training-step time of FixMatch + FixCLR vs FixMatch alone, on the same batch, in one process.

One step = forward of labeled + weak + strong views in one pass, labeled CE + masked CE of strong
views against weak pseudo-labels (the registered ``fixmatch`` method), backward, SGD step. The
FixCLR arm adds the projection head and ``fixclr_loss`` over labeled + unlabeled embeddings.
Steps of the two arms are interleaved so that load from other processes hits both alike; the
figures are medians of wall time and of process CPU time (the robust one on a shared machine). Goal on CPU: ratio <= 1.10 (small CNN), <= 1.05 (ResNet-18).

    .venv/bin/python benchmarks/bench_fixclr_overhead.py [--backbones cnn,resnet18] [--steps 10]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from fixclr.augment import Augmenter
from fixclr.config import DEFAULTS
from fixclr.losses import fixclr_loss
from fixclr.methods import METHODS
from fixclr.models import SSLNet, build_backbone

NUM_CLASSES = 10


def make_arm(backbone: str, fixclr: bool, cfg: dict, device: torch.device):
    """(model, method, optimizer) of one arm; both arms start from the same backbone weights."""
    torch.manual_seed(0)
    model = SSLNet(build_backbone(backbone, cfg["width"]), NUM_CLASSES, "projection" if fixclr else None,
                   cfg["proj_dim"]).to(device)
    method = METHODS.get("fixmatch")(cfg, NUM_CLASSES, num_unlabeled=1).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                                nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"])
    return model, method, optimizer


def make_batch(batch_size: int, mu: int, image_size: int, device: torch.device):
    """Augmented labeled, weak and strong views of random images, and labels."""
    generator = torch.Generator().manual_seed(0)
    n_unlabeled = mu * batch_size
    raw = torch.randint(0, 256, (batch_size + n_unlabeled, 3, image_size, image_size), dtype=torch.uint8,
                        generator=generator).to(device)
    seeds = torch.arange(len(raw), device=device)
    weak = Augmenter("weak", True, image_size)
    strong = Augmenter("strong", True, image_size)
    views = torch.cat([weak(raw[:batch_size], seeds[:batch_size]), weak(raw[batch_size:], seeds[batch_size:]),
                       strong(raw[batch_size:], seeds[batch_size:])])
    targets = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator).to(device)
    return views, targets


def train_step(arm, views: torch.Tensor, targets: torch.Tensor, cfg: dict) -> float:
    """One FixMatch (+ FixCLR when the model has a projection head) step; returns the loss."""
    model, method, optimizer = arm
    n_lab = len(targets)
    n_unl = (len(views) - n_lab) // 2
    logits, z = model(views)
    logits_weak, logits_strong = logits[n_lab:n_lab + n_unl], logits[n_lab + n_unl:]
    pseudo = method.pseudo_label(logits_weak.detach(), logits_strong.detach(), torch.arange(n_unl), 0)
    loss = F.cross_entropy(logits[:n_lab], targets) + method.unlabeled_loss(logits_strong, pseudo)
    if z is not None:
        labels = torch.cat([targets, pseudo.labels])
        valid = torch.cat([torch.ones_like(targets, dtype=torch.bool), pseudo.mask])
        embeddings = z[:n_lab + n_unl]  # labeled + weak unlabeled views
        loss = loss + cfg["fixclr"]["lambda"] * fixclr_loss(embeddings, labels, valid, cfg["fixclr"]["temperature"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def measure(fn, device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``fn()``, with the GPU synchronised on both ends.

    CPU time is far less sensitive than wall time to other processes sharing the cores.
    """
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def fixclr_part_time(arm, n_images: int, n_embedded: int, cfg: dict, device: torch.device,
                     repeats: int = 20) -> tuple[float, float]:
    """Median (wall, CPU) time of what the FixCLR arm adds: projection head + ``fixclr_loss``, forward + backward."""
    model = arm[0]
    features = torch.randn(n_images, model.backbone.out_dim, device=device, requires_grad=True)
    labels = torch.randint(0, NUM_CLASSES, (n_embedded,), device=device)
    valid = torch.ones(n_embedded, dtype=torch.bool, device=device)

    def head_and_loss() -> None:
        z = F.normalize(model.projection(features), dim=1)
        fixclr_loss(z[:n_embedded], labels, valid, cfg["fixclr"]["temperature"]).backward()

    times = [measure(head_and_loss, device) for _ in range(repeats + 1)][1:]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def compare(backbone: str, args, device: torch.device) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) step times of both arms, steps interleaved, and of the FixCLR part alone."""
    cfg = copy.deepcopy(DEFAULTS)
    views, targets = make_batch(args.batch_size, args.mu, args.image_size, device)
    arms = {"fixmatch": make_arm(backbone, False, cfg, device), "fixclr": make_arm(backbone, True, cfg, device)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    for step in range(args.warmup + args.steps):
        order = list(arms) if step % 2 == 0 else list(reversed(arms))
        for name in order:
            elapsed = measure(lambda: train_step(arms[name], views, targets, cfg), device)
            if step >= args.warmup:
                times[name].append(elapsed)
    medians = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
               for name, ts in times.items()}
    n_embedded = args.batch_size * (1 + args.mu)  # labeled + weak unlabeled views
    medians["part"] = fixclr_part_time(arms["fixclr"], len(views), n_embedded, cfg, device)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="cnn,resnet18", help="comma-separated backbone names")
    parser.add_argument("--batch-size", type=int, default=32, help="labeled images per step")
    parser.add_argument("--mu", type=int, default=7, help="unlabeled images per labeled image")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per arm")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per arm first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    images = args.batch_size * (1 + 2 * args.mu)
    print(f"device={device} threads={args.threads} images/step={images} ({args.batch_size} labeled, "
          f"mu={args.mu}, {args.image_size}x{args.image_size}) steps={args.steps}")
    for backbone in args.backbones.split(","):
        medians = compare(backbone, args, device)
        for clock, index in (("wall", 0), ("cpu", 1)):
            fixmatch, fixclr, part = (medians[k][index] for k in ("fixmatch", "fixclr", "part"))
            print(f"{backbone:9s} {clock:4s} fixmatch {1000 * fixmatch:8.1f} ms/step   fixmatch+fixclr "
                  f"{1000 * fixclr:8.1f} ms/step   ratio {fixclr / fixmatch:.3f}   | head+loss alone "
                  f"{1000 * part:6.1f} ms -> ratio {(fixmatch + part) / fixmatch:.3f}")

if __name__ == "__main__":
    main()
