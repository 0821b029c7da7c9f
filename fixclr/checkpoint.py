"""Checkpoints: atomic save, safe load (``weights_only=True``), RNG states, config-hash check, and
the sha256 of the fold's input files (manifest, split, weights), which a resume must match."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from fixclr.errors import UserError
from fixclr.io import atomic_write_bytes, sha256_file


class CheckpointMismatchError(UserError, RuntimeError):
    """A checkpoint was written by a run with another config."""


class CheckpointCorruptError(UserError):
    """A checkpoint file is empty, truncated or not a checkpoint."""


def rng_state() -> dict:
    """Every global RNG state (python, numpy, torch, CUDA) in types ``weights_only`` loading accepts."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore the states saved by ``rng_state``."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def input_hashes(cfg: dict) -> dict[str, str]:
    """sha256 of the files a fold reads: its manifest and split, and its weights file when pretrained."""
    names = ["manifest", "split"] + (["weights"] if cfg["pretrained"] and cfg.get("weights") else [])
    return {name: sha256_file(cfg[name]) for name in names}


def input_changes(state: dict, inputs: dict[str, str]) -> list[str]:
    """How the inputs differ from those a checkpoint was made from (``split sha256 ab12.. -> cd34..``);
    a checkpoint that does not record them (older fixclr) cannot be trusted and counts as changed."""
    saved = state.get("inputs")
    if saved is None:
        return ["the checkpoint does not record its inputs' sha256"]
    return [f"{name} sha256 {str(saved.get(name))[:8]}.. -> {digest[:8]}.."
            for name, digest in inputs.items() if saved.get(name) != digest]


def save_checkpoint(path: str | Path, state: dict, config_hash: str, inputs: dict[str, str] | None = None) -> None:
    """Atomically write ``state`` (plus RNG states, ``config_hash`` and the ``inputs`` hashes) to ``path``."""
    buffer = io.BytesIO()
    torch.save({**state, "rng": rng_state(), "config_hash": config_hash, "inputs": inputs}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, config_hash: str, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely, refusing one whose config hash differs (RNG states are restored by
    ``set_rng_state(state["rng"])`` once the caller resumes from it)."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as error:  # noqa: BLE001 - whatever torch raises on bytes that are not a checkpoint
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointCorruptError(
            f"checkpoint {path} is empty, truncated or not a checkpoint ({reason}); delete it to restart "
            "the fold from step 0"
        ) from None
    if not isinstance(state, dict) or "rng" not in state:
        raise CheckpointCorruptError(f"checkpoint {path} is not a fixclr checkpoint; delete it to restart the fold from step 0")
    if state.get("config_hash") != config_hash:
        raise CheckpointMismatchError(
            f"{path} was written with another config (config hash {state.get('config_hash')} != {config_hash}); "
            "delete it to start over, or use the original config"
        )
    return state
