"""Optional TensorBoard events of a fold (``logging: tensorboard``), fed from the metrics.jsonl records.

One TensorBoard run per fold, ``<run_dir>/tensorboard/``, so ``tensorboard --logdir results/runs``
shows a whole sweep. ``metrics.jsonl`` stays the source of truth: the folder is rewritten from the
records on every (re)start, so after a resume it holds exactly the records metrics.jsonl holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fixclr.config import ConfigError

BOARD_FOLDER = "tensorboard"


def scalars(record: dict, prefix: str = "") -> dict[str, float]:
    """The numeric figures of a record as ``{tag: value}``; nested mappings become ``key/subkey``
    (``val_acc/mono``); lists (the confusion matrix), None and ``step`` are left out."""
    out = {}
    for key, value in record.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(scalars(value, f"{tag}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
            out[tag] = float(value)
    return out


class Board:
    """Writes records as TensorBoard scalars at their step; does nothing with ``logging: none``."""

    def __init__(self, cfg: dict, run_dir: Path, history: list[dict]):
        self.writer = None
        if cfg["logging"] != "tensorboard":
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("config key 'logging: tensorboard' needs the tensorboard package "
                              "(pip install 'fixclr[tensorboard]')") from None
        folder = Path(run_dir, BOARD_FOLDER)
        shutil.rmtree(folder, ignore_errors=True)
        self.writer = SummaryWriter(str(folder))
        for record in history:
            self.log(record)

    def log(self, record: dict) -> None:
        """Add one metrics.jsonl record."""
        if self.writer is None:
            return
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
