"""A fold as the launcher sees it: its ``fold.yaml`` (validated ``launch`` section), its
``launch.json`` record of attempts, and a lock that keeps two launchers from racing on it."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import yaml

from fixclr.errors import UserError
from fixclr.io import atomic_write_json

LAUNCH_FILE = "launch.json"
# libyaml's safe loader where PyYAML has it: `fixclr status` of 2,000 folds reads 2,000 fold.yaml
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DONE_FILE = "done"


class FoldSpecError(UserError, ValueError):
    """A fold.yaml the launcher cannot use; the message names the file and key."""


@dataclass(frozen=True)
class LaunchTarget:
    """One fold to launch: where its spec is, its run folder, and its validated launch settings."""

    fold_yaml: Path
    run_dir: Path
    launch: dict

    @property
    def done(self) -> bool:
        """The trainer wrote ``done``: the fold is never launched again."""
        return (self.run_dir / DONE_FILE).exists()

    @property
    def name(self) -> str:
        """A short human name: the run folder."""
        return str(self.run_dir)


@functools.lru_cache(maxsize=1)
def _launch_schema() -> dict:
    """The ``launch`` section's schema: the sweep schema's ``launch`` block (the single source of
    the keys and defaults) plus the two keys fixclr.sweep adds per fold."""
    from fixclr.sweep import sweep_schema

    properties = sweep_schema()["properties"]
    schema = properties["launch"]
    schema["properties"]["cluster"] = properties["cluster"]
    schema["properties"]["submitit_folder"] = {"type": "string", "default": "results/submitit"}
    return schema


def validate_launch(launch: dict, where: str) -> dict:
    """``launch`` with defaults filled in; FoldSpecError naming ``where`` and the key otherwise."""
    if not isinstance(launch, dict):
        raise FoldSpecError(f"{where}: launch: must be a mapping")
    key = json.dumps(launch, sort_keys=True, default=str)
    if key not in _VALID_LAUNCHES:  # a sweep's folds share a few launch sections: check each once
        _VALID_LAUNCHES[key] = _validated_launch(launch, where)
    return copy.deepcopy(_VALID_LAUNCHES[key])


_VALID_LAUNCHES: dict[str, dict] = {}


def _validated_launch(launch: dict, where: str) -> dict:
    schema = _launch_schema()
    properties = schema["properties"]
    filled = {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}
    filled.update(launch)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(filled), key=lambda e: list(e.path))
    if errors:
        lines = [f"launch.{'.'.join(map(str, e.path)) or '(section)'}: {e.message}" for e in errors]
        raise FoldSpecError(f"{where}: invalid launch settings:\n  " + "\n  ".join(lines))
    gpus, tasks = filled["gpus_per_node"], filled["tasks_per_node"]
    if gpus > 0 and tasks not in (1, gpus):
        raise FoldSpecError(f"{where}: launch.tasks_per_node: {tasks} tasks with {gpus} GPUs per node; "
                            "GPU folds run one task per GPU (leave tasks_per_node at 1)")
    return filled


def read_fold(fold_yaml: str | os.PathLike) -> LaunchTarget:
    """Read a ``fold.yaml`` (``train:`` and ``launch:`` sections) into a LaunchTarget."""
    path = Path(fold_yaml)
    if not path.is_file():
        raise FoldSpecError(f"{path}: no such fold spec")
    spec = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    if not isinstance(spec, dict) or not isinstance(spec.get("train"), dict):
        raise FoldSpecError(f"{path}: a fold spec needs a train: mapping (and a launch: mapping)")
    unknown = sorted(set(spec) - {"train", "launch"})
    if unknown:
        raise FoldSpecError(f"{path}: unknown section(s) {', '.join(unknown)}; a fold spec has train: and launch:")
    return target_from_spec(path, spec)


def target_from_spec(fold_yaml: Path, spec: dict) -> LaunchTarget:
    """The LaunchTarget of a fold spec (the content of ``fold_yaml``, which may not be written yet)."""
    if not spec["train"].get("out_dir"):
        raise FoldSpecError(f"{fold_yaml}: train.out_dir: required (the fold's run folder)")
    launch = validate_launch(spec.get("launch", {}), str(fold_yaml))
    return LaunchTarget(fold_yaml, Path(spec["train"]["out_dir"]), launch)


# --- launch.json --------------------------------------------------------------------------------


def read_launch_record(run_dir: Path) -> dict | None:
    """The fold's ``launch.json`` (None before its first launch)."""
    path = run_dir / LAUNCH_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FoldSpecError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict) or not isinstance(record.get("attempts"), list) or not record["attempts"]:
        raise FoldSpecError(f"{path}: attempts: expected a non-empty list of launch attempts")
    return record


def record_attempt(target: LaunchTarget, attempt: dict) -> dict:
    """Append one attempt (a SLURM job id or a local pid, its log, its time) to ``launch.json``."""
    previous = read_launch_record(target.run_dir)
    attempt = {"cluster": target.launch["cluster"], "submitted_at": now_utc(), **attempt}
    record = {
        "fold": str(target.fold_yaml),
        "submitit_folder": target.launch["submitit_folder"],
        "attempts": (previous["attempts"] if previous else []) + [attempt],
    }
    atomic_write_json(target.run_dir / LAUNCH_FILE, record)
    return record


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def locked(targets: list[LaunchTarget]):
    """Hold an exclusive lock on every target's fold.yaml (in a fixed order: no deadlock), so that
    two launchers never both decide to submit the same fold."""
    with contextlib.ExitStack() as stack:
        for path in sorted({t.fold_yaml.resolve() for t in targets}):
            handle = stack.enter_context(open(path, "rb"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
