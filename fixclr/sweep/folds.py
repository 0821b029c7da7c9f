"""A validated sweep expanded into its LODO folds, and each fold's ``fold.yaml``."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from fixclr.io import atomic_write_text
from fixclr.sweep.facts import target_domains
from fixclr.sweep.paths import backbone_slug, manifest_path, split_path, weights_path
from fixclr.variant import variant_name


@dataclass(frozen=True)
class Fold:
    """One LODO fold: its run folder and the exact content of ``<run_dir>/fold.yaml``."""

    run_dir: Path
    spec: dict


def fold_spec(sweep: dict, dataset: str, backbone: str, pretrained: bool, variant: dict,
              labels: int, seed: int, target: str, run_dir: Path) -> dict:
    """The ``fold.yaml`` content of one fold (before any hyperparameter trial is applied)."""
    train = {**sweep["train"], **variant.get("train", {})}
    train.update(
        dataset=dataset,
        manifest=str(manifest_path(sweep, dataset)),
        split=str(split_path(sweep, dataset, labels, seed)),
        target_domain=target,
        method=variant["method"],
        regularizer=variant["regularizer"],
        backbone=backbone,
        pretrained=pretrained,
        labels_per_class=labels,
        seed=seed,
        out_dir=str(run_dir),
        variant=variant_name(variant),  # the one name of the variant: its folder, result.json, the tables
    )
    fixclr = {**sweep["fixclr"], **variant.get("fixclr", {})}
    if variant["regularizer"] == "fixclr" and fixclr:
        train["fixclr"] = fixclr
    if pretrained:
        train["weights"] = str(weights_path(sweep, backbone))
    return {"train": train, "launch": fold_launch(sweep)}


def fold_launch(sweep: dict) -> dict:
    """The ``launch:`` section of every fold of the sweep."""
    return {
        "cluster": sweep["cluster"],
        "submitit_folder": str(Path(sweep["results_dir"], "submitit")),
        **sweep["launch"],
    }


def expand_folds(sweep: dict) -> list[Fold]:
    """Every fold of the sweep, in a deterministic order (config order of every axis)."""
    folds = []
    grid = sweep["sweep"]
    for dataset in sweep["datasets"]:
        targets = target_domains(sweep, dataset)
        for backbone, pretrained, variant, trial, labels, seed, target in itertools.product(
            grid["backbones"], grid["pretrained"], grid["variants"], range(sweep["hparams"]["trials"]),
            grid["labels_per_class"], grid["seeds"], targets,
        ):
            run_dir = Path(
                sweep["results_dir"], "runs", dataset, backbone_slug(backbone) + ("-pt" if pretrained else ""),
                variant_name(variant), *trial_folder(sweep, trial), target, f"n{labels}", f"s{seed}",
            )
            spec = fold_spec(sweep, dataset, backbone, pretrained, variant, labels, seed, target, run_dir)
            spec["train"] = with_trial(sweep, spec["train"], trial)
            folds.append(Fold(run_dir=run_dir, spec=spec))
    return folds


def trial_folder(sweep: dict, trial: int) -> list[str]:
    """``["t<trial>"]``, the run-folder level of a hyperparameter trial; none without a search (trials: 1)."""
    return [f"t{trial}"] if sweep["hparams"]["trials"] > 1 else []


def with_trial(sweep: dict, train: dict, trial: int) -> dict:
    """The training mapping of ``trial`` of a search: the drawn values (fixclr/hparams.py; trial 0 keeps
    the sweep's settings) and ``search: {trial, trials}``; unchanged without a search (trials: 1)."""
    from fixclr.hparams import apply, draw

    trials = sweep["hparams"]["trials"]
    if trials == 1:
        return train
    drawn = draw(train["method"], train["regularizer"], trial, sweep["hparams"]["seed"]) if trial else {}
    return apply(train, {**drawn, "search.trial": trial, "search.trials": trials})


def fold_spec_text(spec: dict) -> str:
    """The YAML text of a fold spec (sorted keys: equal specs give identical bytes)."""
    return yaml.safe_dump(json.loads(json.dumps(spec)), sort_keys=True, default_flow_style=False)


def write_fold_spec(fold: Fold) -> Path:
    """Atomically write ``run_dir/fold.yaml``; an identical existing file is left untouched."""
    path = fold.run_dir / "fold.yaml"
    text = fold_spec_text(fold.spec)
    if not (path.is_file() and path.read_text() == text):
        atomic_write_text(path, text)
    return path
