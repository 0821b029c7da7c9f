"""``fixclr train``: train and evaluate one LODO fold into its run folder (see docs/architecture.md).

The run folder gets ``config.yaml`` (resolved config), ``metrics.jsonl`` (one line per
evaluation), ``checkpoint.pt`` (atomically replaced), then ``result.json`` and ``done``, last.
A folder with ``done`` is never retrained; a folder with a checkpoint resumes from it exactly when
the checkpoint's config hash and input files' sha256 match (another config is refused, changed
inputs start over from step 0). ``train.lock`` keeps a second trainer out of the folder.
Under DDP (torchrun or SLURM environment) every rank trains, only rank 0 writes files.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from fixclr import config as fold_config
from fixclr.checkpoint import input_changes, input_hashes, load_checkpoint, save_checkpoint, set_rng_state
from fixclr.distributed import env_rank_info, rank, setup, teardown, world_size
from fixclr.errors import ArgumentParser
from fixclr.hparams import searched_values
from fixclr.io import append_text, atomic_write_json, atomic_write_text
from fixclr.run_lock import run_folder_lock
from fixclr.variant import RESULT_FORMAT, fold_variant

def git_commit() -> str | None:
    """The commit of the fixclr checkout, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def evaluation_record(trainer, sums: dict, steps: int, train_s: float) -> dict:
    """One metrics.jsonl line: means of the step figures since the last evaluation, and accuracies."""
    from fixclr.engine import StepLosses

    unlabeled, masked = sums["unlabeled"], sums["masked"]
    return {
        "step": trainer.step,
        "lr": trainer.scheduler.get_last_lr()[0],
        **{key: sums[key] / steps for key in StepLosses._fields},
        "fixclr_lambda": trainer.fixclr_weight(trainer.step - 1) if trainer.cfg["regularizer"] == "fixclr" else 0.0,
        "unlabeled_weight": trainer.unlabeled_weight(trainer.step - 1) if trainer.method.uses_unlabeled else 0.0,
        **trainer.evaluate(),
        "mask_rate": masked / unlabeled if unlabeled else None,
        "pseudo_label_acc": 100.0 * sums["masked_correct"] / masked if masked else None,
        "pseudo_label_acc_all": 100.0 * sums["correct"] / unlabeled if unlabeled else None,
        "images_per_s": trainer.images_per_step() * steps / train_s,
    }


def summarize(cfg: dict, trainer, history: list[dict], wall_s: float, train_s: float) -> dict:
    """result.json: the fold's identity and its target accuracy under each model-selection rule."""
    data, device = trainer.data, trainer.device
    last = history[-1]
    best_val = max(history, key=lambda r: r["val_acc_mean"])  # earliest among ties
    oracle = max(history, key=lambda r: r["target_acc"])
    return {
        "result_format": RESULT_FORMAT,
        "dataset": data.dataset,
        "target_domain": data.target_domain,
        "source_domains": data.source_domains,
        "ssl_method": cfg["method"],
        "regularizer": cfg["regularizer"],
        "regularizer_settings": dict(cfg["fixclr"]) if cfg["regularizer"] == "fixclr" else {},
        "variant": fold_variant(cfg),
        "backbone": cfg["backbone"],
        "pretrained": cfg["pretrained"],
        "labels_per_class": data.labels_per_class,
        "seed": cfg["seed"],
        "acc_last": last["target_acc"],
        "acc_val": best_val["target_acc"],
        "acc_oracle": oracle["target_acc"],
        "val_acc_last": last["val_acc_mean"],
        "best_val_step": best_val["step"],
        "oracle_step": oracle["step"],
        "steps": cfg["steps"],
        "wall_s": wall_s,
        "images_per_s": trainer.images_per_step() * cfg["steps"] / train_s if train_s else None,
        "device": device.type,
        "gpus": world_size() if device.type == "cuda" else 0,
        "world_size": world_size(),
        "git_commit": git_commit(),
        "config_hash": fold_config.config_hash(cfg),
        "trial": cfg["search"]["trial"],
        "trials": cfg["search"]["trials"],
        "hparams": searched_values(cfg) if cfg["search"]["trials"] > 1 else {},
    }


def per_class_record(classes: list[str], history: list[dict]) -> dict:
    """per_class.json: the target confusion matrix and per-class accuracy at the fold's best mean
    source-validation step (every evaluation's matrix stays in metrics.jsonl for other rules)."""
    from fixclr.metrics import per_class

    best_val = max(history, key=lambda r: r["val_acc_mean"])  # earliest among ties
    correct, count = per_class(best_val["target_confusion"])
    return {"step": best_val["step"], "selection": "val", "classes": classes, "confusion": best_val["target_confusion"],
            "accuracy": {c: 100.0 * k / n if n else None for c, k, n in zip(classes, correct.tolist(), count.tolist())},
            "count": dict(zip(classes, count.tolist()))}


def _train(cfg: dict, out: Path, device: torch.device) -> dict:
    from fixclr.board import Board
    from fixclr.data.loader import load_fold
    from fixclr.engine import Trainer

    started, is_main = time.perf_counter(), rank() == 0
    chash = fold_config.config_hash(cfg)
    checkpoint, metrics = out / "checkpoint.pt", out / "metrics.jsonl"
    trainer = Trainer(cfg, load_fold(cfg, verify=is_main, device=device).to(device), device)
    inputs = input_hashes(cfg)  # after the data and weights loaded: a missing file gets their clearer error
    history, wall_before, train_s = [], 0.0, 0.0
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, chash, map_location=device)
        changes = input_changes(state, inputs)
        if changes:  # nothing of the old run is reused: metrics.jsonl restarts empty below
            print(f"inputs changed since the checkpoint: {'; '.join(changes)}; starting from step 0", flush=True)
        else:
            set_rng_state(state["rng"])
            trainer.load_state_dict(state["trainer"])
            history, wall_before, train_s = state["history"], state["wall_s"], state["train_s"]
            print(f"resuming from step {trainer.step}", flush=True)
    if is_main:
        atomic_write_text(out / "config.yaml", fold_config.to_yaml(cfg))
        atomic_write_text(metrics, "".join(json.dumps(r) + "\n" for r in history))
    board = Board(cfg if is_main else {**cfg, "logging": "none"}, out, history)
    since, tick = 0, time.perf_counter()
    while trainer.step < cfg["steps"]:
        trainer.train_step()  # no host sync: its figures stay on the device until step_figures
        since += 1
        step = trainer.step
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            sums = trainer.step_figures()  # raises NonFiniteLossError naming the first non-finite step
            elapsed = time.perf_counter() - tick
            train_s += elapsed
            record = evaluation_record(trainer, sums, since, elapsed)
            history.append(record)
            if is_main:
                append_text(metrics, json.dumps(record) + "\n")
                board.log(record)
                print(f"step {step}/{cfg['steps']} loss {record['loss']:.4f} target {record['target_acc']:.2f} "
                      f"val {record['val_acc_mean']:.2f} mask {record['mask_rate']} {record['images_per_s']:.0f} img/s", flush=True)
            since, tick = 0, time.perf_counter()
        if step % cfg["checkpoint_every"] == 0 and step < cfg["steps"]:
            trainer.check_finite()  # never checkpoint weights that a non-finite step has touched
            if is_main:
                wall = wall_before + time.perf_counter() - started
                save_checkpoint(checkpoint, {"trainer": trainer.state_dict(), "history": history, "wall_s": wall,
                                             "train_s": train_s}, chash, inputs)
    result = summarize(cfg, trainer, history, wall_before + time.perf_counter() - started, train_s)
    board.close()
    if is_main:
        atomic_write_json(out / "per_class.json", per_class_record(trainer.data.classes, history))
        atomic_write_json(out / "result.json", result)
        atomic_write_text(out / "done", "")
    return result


def run_fold(cfg: dict) -> dict:
    """Train one fold from a (partial or resolved) config dict; returns result.json's content.

    A run folder holding ``done`` is not retrained: its result.json is returned as is. The run
    folder's lock (fixclr.run_lock) is held throughout: RunFolderBusyError if another trainer has it.
    """
    cfg = fold_config.resolve(cfg)
    out = Path(cfg["out_dir"])
    if (result := _done_result(out)) is not None:
        return result
    if env_rank_info()[0] != 0:  # rank 0 holds the run folder's lock for the whole job
        return _run_fold_unlocked(cfg, out)
    with run_folder_lock(out):
        # another trainer may have finished the fold while this one started
        return _done_result(out) or _run_fold_unlocked(cfg, out)


def _done_result(out: Path) -> dict | None:
    """result.json of a folder holding ``done``, else None."""
    if not (out / "done").exists():
        return None
    print(f"{out} is done; not retraining", flush=True)
    return json.loads((out / "result.json").read_text())


def _run_fold_unlocked(cfg: dict, out: Path) -> dict:
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    joined_here = not (dist.is_available() and dist.is_initialized())
    device = setup(cfg["device"])
    try:
        return _train(cfg, out, device)
    finally:
        if joined_here:
            teardown()


def planned_for_slurm_but_outside(config_path: str) -> str:
    """Why a fold.yaml planned for SLURM (``launch.cluster: slurm``) may not train here: outside a
    SLURM job (no SLURM_JOB_ID), e.g. on the login node; empty when it may."""
    path = Path(config_path)
    spec = yaml.safe_load(path.read_text()) if path.is_file() else None
    launch = spec.get("launch") if isinstance(spec, dict) else None
    if isinstance(launch, dict) and launch.get("cluster") == "slurm" and not os.environ.get("SLURM_JOB_ID"):
        return (f"{path}: launch.cluster is slurm but this is not a SLURM job (no SLURM_JOB_ID): "
                f"launch it with `fixclr submit {path}`")
    return ""


def main(argv: list[str]) -> int:
    """``fixclr train --config FILE [key=value ...]``."""
    parser = ArgumentParser(prog="fixclr train", description="Train and evaluate one LODO fold.")
    parser.add_argument("--config", required=True, help="config file: plain training keys, or a fold.yaml with a train: section")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key (dotted for nested keys)")
    args = parser.parse_args(argv)
    outside = planned_for_slurm_but_outside(args.config)
    if outside:
        raise fold_config.ConfigError(outside)
    result = run_fold(fold_config.load(args.config, args.overrides))  # user errors: fixclr.cli prints them
    print(json.dumps({k: result[k] for k in ("acc_last", "acc_val", "acc_oracle", "wall_s")}))
    return 0
