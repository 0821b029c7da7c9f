"""Read a sweep config (a YAML file or a mapping), merge its launch file, validate it."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from fixclr.sweep.checks import semantic_errors
from fixclr.sweep.errors import SweepConfigError
from fixclr.sweep.folds import fold_launch
from fixclr.sweep.schema import schema_errors, schema_numbers, sweep_schema

# Set by the Snakefile (onstart) under Snakemake's SLURM executor: the folds' launch settings (JSON).
SLURM_LAUNCH_ENV = "FIXCLR_SLURM_LAUNCH"


def _read_config(path_or_dict) -> tuple[dict, str]:
    if isinstance(path_or_dict, dict):
        return copy.deepcopy(path_or_dict), "sweep config"
    path = Path(path_or_dict)
    if not path.is_file():
        raise SweepConfigError(f"{path}: no such sweep config file")
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise SweepConfigError(f"{path}: a sweep config must be a YAML mapping")
    return loaded, str(path)


def _read_launch_file(name: str) -> dict:
    """The mapping in ``launch_file`` (cluster-wide launch settings, e.g. the slurm profile's);
    a relative path is read from the working directory."""
    path = Path(name)
    if not path.is_file():
        raise SweepConfigError(f"launch_file: no such file {name!r} (relative to the working directory {Path.cwd()})")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise SweepConfigError(f"launch_file: {path} must hold a YAML mapping of launch settings")
    return loaded


def load_sweep(path_or_dict) -> dict:
    """Read (a YAML file) and validate a sweep config; return it with the schema's defaults filled in.

    Settings in ``launch_file`` are merged under the config's own ``launch`` block. Raises
    SweepConfigError naming the key for a schema violation (typo, wrong type), an unknown
    method or backbone or domain, a training key the trainer does not know, or a label budget
    larger than the smallest class of a domain.
    """
    sweep, source = _read_config(path_or_dict)
    if isinstance(sweep.get("launch_file"), str):
        sweep["launch"] = {**_read_launch_file(sweep["launch_file"]), **(sweep.get("launch") or {})}
    schema = sweep_schema()
    _coerce_numbers(sweep, schema)
    errors = schema_errors(sweep, schema)
    if not errors:
        sweep.setdefault("weights_dir", str(Path(sweep["results_dir"], "weights")))
        errors = semantic_errors(sweep)
    if len(errors) == 1:
        raise SweepConfigError(f"{source}: invalid sweep config: {errors[0]}")
    if errors:
        raise SweepConfigError(f"{source}: invalid sweep config:\n  " + "\n  ".join(errors))
    return sweep


def _coerce_numbers(sweep: dict, schema: dict) -> None:
    """Numbers in scientific notation are accepted everywhere: in the keys the schema types and
    in the training blocks (typed by fixclr/config.py's defaults)."""
    from fixclr.config import DEFAULTS, coerce_numbers

    schema_numbers(sweep, schema)
    blocks = [sweep] + [v for v in (sweep.get("sweep") or {}).get("variants") or [] if isinstance(v, dict)]
    for block in blocks:
        for key, defaults in (("train", DEFAULTS), ("fixclr", DEFAULTS["fixclr"])):
            if isinstance(block.get(key), dict):
                coerce_numbers(block[key], defaults)


def slurm_fold_launch(config: dict, profile_launch_file: str | None = None) -> dict:
    """The folds' ``launch:`` section when Snakemake runs under its SLURM executor: ``cluster: slurm``
    and the config's ``launch_file`` merged in, else ``profile_launch_file`` (the slurm profile's
    launch.yaml, found by the workflow) when given. Decided from the executor, never from
    ``--config``, which replaces a profile's config list."""
    defaults = {"launch_file": profile_launch_file} if profile_launch_file else {}
    return fold_launch(load_sweep({**defaults, **config, "cluster": "slurm"}))
