"""ImageNet weights of the pretrained backbones: local lookup for compute nodes, download for login nodes.

Compute nodes have no internet, so training only ever reads a file: the ``weights`` path of the
config, else torch's hub cache (``$TORCH_HOME/hub/checkpoints/<torchvision file name>``, or
``timm-<model>.pth`` for ``timm:<model>``). ``fixclr weights --backbone resnet18 [--out PATH]``
(or ``--backbone timm:<model>``) downloads it once on a machine with internet.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from fixclr.errors import ArgumentParser, UserError
from fixclr.io import atomic_write_bytes

WEIGHT_ENUMS = {"resnet18": "ResNet18_Weights", "resnet50": "ResNet50_Weights"}


class WeightsError(UserError, ValueError):
    """A pretrained weights file that is unknown or does not fit its backbone; the message names it."""


def weights_url(backbone: str) -> str:
    """torchvision's URL of the IMAGENET1K_V1 weights of ``backbone``."""
    import torchvision

    if backbone not in WEIGHT_ENUMS:
        raise WeightsError(f"no ImageNet weights for backbone {backbone!r}; known: {', '.join(WEIGHT_ENUMS)}")
    return getattr(torchvision.models, WEIGHT_ENUMS[backbone]).IMAGENET1K_V1.url


def cached_weights_path(backbone: str) -> Path:
    """Where torch's hub cache keeps the weights file of ``backbone``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_url(backbone)).name


def load_imagenet_state_dict(backbone: str, path: str | Path | None = None) -> dict:
    """The ImageNet state dict of ``backbone`` from ``path`` or the cache; a missing file says how to get it."""
    path = Path(path) if path else cached_weights_path(backbone)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights for {backbone} not found at {path}; compute nodes cannot download them. "
            f"On a login node with internet run: fixclr weights --backbone {backbone}"
            + (f" --out {path}" if path != cached_weights_path(backbone) else "")
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not any(k.startswith("conv1.") for k in state):
        raise WeightsError(f"{path} is not a torchvision {backbone} state dict (no conv1.* keys)")
    return state


def main(argv: list[str]) -> int:
    """``fixclr weights --backbone NAME [--out PATH] [--source FILE]``: download ImageNet weights (needs internet)."""
    from fixclr.models import timm_backbones

    parser = ArgumentParser(prog="fixclr weights", description=main.__doc__)
    parser.add_argument("--backbone", required=True, help=f"{', '.join(sorted(WEIGHT_ENUMS))} or timm:<model>")
    parser.add_argument("--out", type=Path, help="file to write (default: torch's hub cache)")
    parser.add_argument("--source", type=Path, help="timm:<model> only: a timm checkpoint file already on this "
                                                    "machine, instead of the Hugging Face hub")
    args = parser.parse_args(argv)
    is_timm = timm_backbones.is_timm_backbone(args.backbone)
    if not is_timm and (args.backbone not in WEIGHT_ENUMS or args.source):
        parser.error(f"--backbone must be {', '.join(sorted(WEIGHT_ENUMS))} or timm:<model> (--source: timm only); "
                     f"got {args.backbone!r}")
    out = args.out or (timm_backbones.cached_weights_path(args.backbone) if is_timm else cached_weights_path(args.backbone))
    if out.is_file():
        print(f"{out} already exists")
        return 0
    if is_timm:
        timm_backbones.download_weights(args.backbone, out, args.source)
    else:
        state = torch.hub.load_state_dict_from_url(weights_url(args.backbone), map_location="cpu", progress=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(out, buffer.getvalue())
    print(f"wrote {out}")
    return 0
