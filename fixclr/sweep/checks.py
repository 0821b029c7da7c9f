"""The checks of a schema-valid sweep against what the project knows: the dataset's domains and
class sizes, distinct variant folders, and every training setting (resolved by fixclr/config.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

from data_prep.manifest import MANIFEST_DOMAIN
from fixclr.sweep.errors import SweepConfigError
from fixclr.sweep.facts import DatasetFacts, dataset_facts, facts_before_ingest, target_domains
from fixclr.sweep.folds import fold_spec
from fixclr.variant import variant_name


def semantic_errors(sweep: dict) -> list[str]:
    """Every problem of a schema-valid sweep (defaults filled in), one line each naming the key."""
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
        name = variant_name(variant)
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
        facts = facts_before_ingest(sweep, name, facts)
    if facts.class_counts is not None:
        errors += _label_budget_errors(sweep, name, facts)
    return errors


def _label_budget_errors(sweep: dict, name: str, facts: DatasetFacts) -> list[str]:
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
    spec = fold_spec(sweep, dataset, backbone, pretrained, {"regularizer": "none", **variant},
                     grid["labels_per_class"][0], grid["seeds"][0], target_domains(sweep, dataset)[0],
                     Path("check"))
    try:
        resolve(spec["train"], where=where)
    except ConfigError as error:
        return [str(error) if where in str(error) else f"{where}: {error}"]
    return []
