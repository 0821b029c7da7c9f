"""What is known of a sweep's datasets before training: domains, and class sizes when they can be
read (the manifest once ingested, else the files in the image folder, else the demo's sizes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fixclr.sweep.errors import SweepConfigError
from fixclr.sweep.paths import dataset_root, manifest_path


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


def facts_before_ingest(sweep: dict, name: str, facts: DatasetFacts) -> DatasetFacts:
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


def target_domains(sweep: dict, dataset: str) -> list[str]:
    """The held-out target domains of ``dataset``: all its domains unless the config lists some."""
    targets = sweep["datasets"][dataset]["targets"]
    return dataset_facts(sweep, dataset).domains if targets == "all" else list(targets)
