"""A sweep config: load and validate it, expand it into folds, write each fold's ``fold.yaml``.

Shared by the Snakefile (the DAG), the launcher (``fixclr status/resubmit --sweep``) and the
results (which folds are missing). A config is checked against
``workflow/schemas/config.schema.yaml`` (which also supplies the defaults), then against what the
project knows: registered methods, the dataset's domains, and the size of its smallest class.
Every error names the offending key.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from data_prep.manifest import MANIFEST_DOMAIN
from fixclr.errors import UserError
from fixclr.io import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
# Launch settings of folds under Snakemake's SLURM executor when the config names no launch_file.
SLURM_LAUNCH_FILE = "cluster/profiles/slurm/launch.yaml"
# Set by the Snakefile (onstart) under Snakemake's SLURM executor: the folds' launch settings (JSON).
SLURM_LAUNCH_ENV = "FIXCLR_SLURM_LAUNCH"


class SweepConfigError(UserError, ValueError):
    """A sweep config that cannot run; the message names the key."""


@dataclass(frozen=True)
class Fold:
    """One LODO fold: its run folder and the exact content of ``<run_dir>/fold.yaml``."""

    run_dir: Path
    spec: dict


# --- paths of the artefacts (docs/architecture.md) ---------------------------------------------


def dataset_root(sweep: dict, dataset: str) -> Path:
    """The image folder of ``dataset``: the generated one for a demo, else the configured root."""
    entry = sweep["datasets"][dataset]
    return Path(sweep["results_dir"], "data", dataset) if entry["demo"] else Path(entry["root"])


def shards_dir(sweep: dict, dataset: str) -> Path:
    """Folder of a dataset's HDF5 shards, per-domain records and manifest."""
    return Path(sweep["results_dir"], "shards", dataset)


def manifest_path(sweep: dict, dataset: str) -> Path:
    """The dataset's merged ``manifest.json``."""
    return shards_dir(sweep, dataset) / "manifest.json"


def split_path(sweep: dict, dataset: str, labels_per_class: int, seed: int) -> Path:
    """The split file of (dataset, label budget, seed)."""
    return Path(sweep["results_dir"], "splits", dataset, f"n{labels_per_class}_s{seed}.json")


def backbone_slug(backbone: str) -> str:
    """A backbone's name in file and folder names: ``timm:<model>`` becomes ``timm-<model>`` (no ':')."""
    return backbone.replace(":", "-")


def weights_path(sweep: dict, backbone: str) -> Path:
    """The local ImageNet weights file of a pretrained backbone."""
    return Path(sweep["weights_dir"], f"{backbone_slug(backbone)}.pth")


def variant_name(variant: dict) -> str:
    """``<method>[+<regularizer>][-<tag>]``: the variant's folder and table row name."""
    name = variant["method"]
    if variant["regularizer"] != "none":
        name += f"+{variant['regularizer']}"
    if "tag" in variant:
        name += f"-{variant['tag']}"
    return name


# --- loading and validation ---------------------------------------------------------------------


def _validator_filling_defaults() -> type:
    """A Draft 2020-12 validator that also writes each property's schema default into the instance."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def _schema_errors(sweep: dict) -> list[str]:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = _validator_filling_defaults()(schema)
    errors = sorted(validator.iter_errors(sweep), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]


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
    """The mapping in ``launch_file`` (cluster-wide launch settings, e.g. the slurm profile's)."""
    path = Path(name)
    if not path.is_absolute() and not path.is_file():
        path = REPO_ROOT / path
    if not path.is_file():
        raise SweepConfigError(f"launch_file: no such file {name!r}")
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
    _coerce_numbers(sweep)
    errors = _schema_errors(sweep)
    if not errors:
        sweep.setdefault("weights_dir", str(Path(sweep["results_dir"], "weights")))
        errors = _semantic_errors(sweep)
    if len(errors) == 1:
        raise SweepConfigError(f"{source}: invalid sweep config: {errors[0]}")
    if errors:
        raise SweepConfigError(f"{source}: invalid sweep config:\n  " + "\n  ".join(errors))
    return sweep


def _schema_numbers(instance, schema: dict):
    """``instance`` with the scientific-notation strings YAML 1.1 leaves (``3e-2``) converted
    where ``schema`` expects a number."""
    from fixclr.config import number_from_text

    if isinstance(instance, dict):
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            subschema = schema.get("properties", {}).get(key, extra)
            if isinstance(subschema, dict):
                instance[key] = _schema_numbers(value, subschema)
        return instance
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_schema_numbers(value, schema["items"]) for value in instance]
    types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    if "number" in types or "integer" in types:
        return number_from_text(instance, integer="number" not in types)
    return instance


def _coerce_numbers(sweep: dict) -> None:
    """Numbers in scientific notation are accepted everywhere: in the keys the schema types and
    in the training blocks (typed by fixclr/config.py's defaults)."""
    from fixclr.config import DEFAULTS, coerce_numbers

    _schema_numbers(sweep, yaml.safe_load(SCHEMA_PATH.read_text()))
    blocks = [sweep] + [v for v in (sweep.get("sweep") or {}).get("variants") or [] if isinstance(v, dict)]
    for block in blocks:
        for key, defaults in (("train", DEFAULTS), ("fixclr", DEFAULTS["fixclr"])):
            if isinstance(block.get(key), dict):
                coerce_numbers(block[key], defaults)


def _semantic_errors(sweep: dict) -> list[str]:
    errors = []
    for name, entry in sweep["datasets"].items():
        errors += _dataset_errors(sweep, name, entry)
    if errors:
        return errors
    return _variant_folder_errors(sweep) + _training_errors(sweep)


def _variant_folder_errors(sweep: dict) -> list[str]:
    """Two variants with one folder name (same method, regularizer and tag) would share run folders,
    one silently never running: refused (naming both), rather than renaming existing folders."""
    errors, first_index = [], {}
    for index, variant in enumerate(sweep["sweep"]["variants"]):
        name = variant_name({"regularizer": "none", **variant})
        if name in first_index:
            errors.append(f"sweep.variants[{index}] and sweep.variants[{first_index[name]}] both have the run folders "
                          f"of variant {name!r}: give one of them a distinct tag: (e.g. tag: steps=400)")
        first_index.setdefault(name, index)
    return errors


def _dataset_errors(sweep: dict, name: str, entry: dict) -> list[str]:
    key = f"datasets.{name}"
    if not entry["demo"] and "root" not in entry:
        return [f"{key}.root: required unless demo: true (the image folder ROOT/<domain>/<class>/<image>)"]
    errors = []
    if "image_size" in entry and len(set(entry["image_size"])) != 1:
        errors.append(f"{key}.image_size: training expects square images, got {entry['image_size']}; "
                      "give [N, N]")
    try:
        facts = dataset_facts(sweep, name)
    except SweepConfigError as error:
        return errors + [str(error)]
    if MANIFEST_DOMAIN in facts.domains:
        errors.append(f"{key}: a domain named {MANIFEST_DOMAIN!r} would collide with the shard folder's "
                      f"{MANIFEST_DOMAIN}.json; rename that domain folder")
    if entry["targets"] != "all":
        errors += [
            f"{key}.targets: unknown domain {target!r}; {name} has {', '.join(facts.domains)}"
            for target in entry["targets"] if target not in facts.domains
        ]
    if facts.class_counts is None:
        facts = _facts_before_ingest(sweep, name, facts)
    if facts.class_counts is not None:
        errors += _label_budget_errors(sweep, name, facts)
    return errors


def _facts_before_ingest(sweep: dict, name: str, facts: "DatasetFacts") -> "DatasetFacts":
    """Class sizes before the manifest exists: the files in ROOT/<domain>/<class>/ (a cheap
    listing, no decoding), or for a demo not generated yet the demo's known sizes."""
    from data_prep.demo import demo_class_counts
    from data_prep.layout import count_class_files

    root = dataset_root(sweep, name)
    if root.is_dir():
        counts = count_class_files(root, facts.domains)
        return DatasetFacts(facts.domains, counts, f"files counted in {root}") if counts else facts
    if sweep["datasets"][name]["demo"]:
        return DatasetFacts(facts.domains, demo_class_counts(facts.domains), "the demo's digits per domain")
    return facts


def _label_budget_errors(sweep: dict, name: str, facts: "DatasetFacts") -> list[str]:
    """A label budget must fit in every class beside that class's validation share."""
    from data_prep.splits import validation_count

    errors = []
    val_fraction = sweep["data"]["val_fraction"]
    smallest, domain, cls = min((n, domain, cls) for domain, counts in facts.class_counts.items()
                                for cls, n in counts.items())
    trainable = smallest - validation_count(smallest, val_fraction)
    for labels in sweep["sweep"]["labels_per_class"]:
        if labels > trainable:
            errors.append(
                f"sweep.labels_per_class: {labels} labels per class is larger than class {cls!r} of "
                f"domain {domain!r} of {name}: {smallest} images, {trainable} outside validation "
                f"(data.val_fraction {val_fraction}; {facts.source}); lower it"
            )
    return errors


def _training_errors(sweep: dict) -> list[str]:
    """Resolve the training configs with fixclr/config.py, which knows every key: the shared
    ``train``/``fixclr`` blocks with each backbone first, then each variant."""
    grid = sweep["sweep"]
    shared = {"method": grid["variants"][0]["method"], "regularizer": "fixclr"}
    errors = []
    for backbone, pretrained in itertools.product(grid["backbones"], grid["pretrained"]):
        errors += _resolve_errors(sweep, shared, backbone, pretrained, "the shared settings (train, fixclr, sweep.backbones)")
    if errors:
        return list(dict.fromkeys(errors))
    for index, variant in enumerate(grid["variants"]):
        where = f"sweep.variants[{index}] ({variant_name(variant)})"
        errors += _resolve_errors(sweep, variant, grid["backbones"][0], grid["pretrained"][0], where)
    return errors


def _resolve_errors(sweep: dict, variant: dict, backbone: str, pretrained: bool, where: str) -> list[str]:
    from fixclr.config import ConfigError, resolve

    dataset = next(iter(sweep["datasets"]))
    grid = sweep["sweep"]
    spec = _fold_spec(sweep, dataset, backbone, pretrained, {"regularizer": "none", **variant},
                      grid["labels_per_class"][0], grid["seeds"][0], target_domains(sweep, dataset)[0],
                      Path("check"))
    try:
        resolve(spec["train"], where=where)
    except ConfigError as error:
        return [str(error) if where in str(error) else f"{where}: {error}"]
    return []


@dataclass(frozen=True)
class DatasetFacts:
    """What is known of a dataset before training: its domains, and class sizes once ingested."""

    domains: list[str]
    class_counts: dict[str, dict[str, int]] | None  # domain -> class -> images (manifest only)
    source: str


def dataset_facts(sweep: dict, dataset: str) -> DatasetFacts:
    """Domains of ``dataset`` (the config's ``domains`` list, else its preset's: never read from
    artefacts, so that the DAG does not change once data is ingested), and its class sizes once
    its manifest exists."""
    from data_prep.presets import PRESETS

    entry = sweep["datasets"][dataset]
    preset = entry.get("preset", dataset)
    if "domains" in entry:
        domains, source = list(entry["domains"]), "config"
    elif preset in PRESETS:
        domains, source = list(PRESETS.get(preset).domains), f"preset {preset}"
    elif "preset" in entry:
        raise SweepConfigError(f"datasets.{dataset}.preset: unknown preset {preset!r}; known: {', '.join(PRESETS.names())}")
    else:
        raise SweepConfigError(
            f"datasets.{dataset}: its domains are unknown: give domains: [...] or a preset ({', '.join(PRESETS.names())})"
        )
    manifest = manifest_path(sweep, dataset)
    if not manifest.is_file():
        return DatasetFacts(domains, None, source)
    records = json.loads(manifest.read_text())["domains"]
    unknown = [domain for domain in domains if domain not in records]
    if unknown:
        raise SweepConfigError(f"datasets.{dataset}: domains {', '.join(unknown)} ({source}) are not in {manifest}, "
                               f"which has {', '.join(records)}")
    counts = {domain: records[domain]["class_counts"] for domain in domains}
    return DatasetFacts(domains, counts, f"manifest {manifest}")


# --- folds ----------------------------------------------------------------------------------------


def target_domains(sweep: dict, dataset: str) -> list[str]:
    """The held-out target domains of ``dataset``: all its domains unless the config lists some."""
    targets = sweep["datasets"][dataset]["targets"]
    return dataset_facts(sweep, dataset).domains if targets == "all" else list(targets)


def _fold_spec(sweep: dict, dataset: str, backbone: str, pretrained: bool, variant: dict,
               labels: int, seed: int, target: str, run_dir: Path) -> dict:
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


def slurm_fold_launch(config: dict) -> dict:
    """The folds' ``launch:`` section when Snakemake runs under its SLURM executor: ``cluster: slurm``
    and the config's ``launch_file`` (default: the shipped profile's, SLURM_LAUNCH_FILE) merged in.
    Decided from the executor, never from ``--config``, which replaces a profile's config list."""
    return fold_launch(load_sweep({"launch_file": SLURM_LAUNCH_FILE, **config, "cluster": "slurm"}))


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
            spec = _fold_spec(sweep, dataset, backbone, pretrained, variant, labels, seed, target, run_dir)
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



def main(argv: list[str] | None = None) -> int:
    """``python -m fixclr.sweep FOLD_YAML SPEC_JSON``: write one fold spec (the workflow's fold_spec
    rule; a shell command, so Snakemake does not start a Python process per fold to run it). Under
    Snakemake's SLURM executor the fold gets the launch settings in SLURM_LAUNCH_ENV."""
    import os
    import sys

    fold_yaml, spec_json = sys.argv[1:] if argv is None else argv
    spec = json.loads(spec_json)
    if os.environ.get(SLURM_LAUNCH_ENV):
        spec["launch"] = json.loads(os.environ[SLURM_LAUNCH_ENV])
    write_fold_spec(Fold(run_dir=Path(fold_yaml).parent, spec=spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
