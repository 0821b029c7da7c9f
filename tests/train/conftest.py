"""Fixtures of the training-library tests: a tiny fold config on the real demo data."""

from __future__ import annotations

import pytest
import torch
import yaml

torch.set_num_threads(1)

TINY = {"steps": 3, "batch_size": 12, "mu": 1, "eval_every": 3, "checkpoint_every": 3, "threads": 1, "width": 8,
        "proj_dim": 16, "eval_batch_size": 512}


@pytest.fixture
def fold_cfg(prepared_demo, tmp_path) -> dict:
    """A partial fold config (target ``mono``) training a few steps of a narrow CNN into tmp_path/run."""
    return {"manifest": str(prepared_demo.manifest), "split": str(prepared_demo.split), "target_domain": "mono",
            "out_dir": str(tmp_path / "run"), **TINY}


@pytest.fixture
def write_config(tmp_path):
    """Write a config mapping to tmp_path/<name>.yaml and return its path."""

    def write(cfg: dict, name: str = "fold") -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return str(path)

    return write
