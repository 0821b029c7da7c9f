"""Merge the per-domain ingest records ``<domain>.json`` into ``manifest.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from data_prep.errors import DataPrepError, format_problems
from fixclr.io import atomic_write_json

MANIFEST_NAME = "manifest.json"
MANIFEST_DOMAIN = "manifest"  # not a domain name: its record <domain>.json would be the manifest
SHARED_KEYS = ("dataset", "root", "image_size", "resize_policy", "classes", "fixclr_version")
DOMAIN_KEYS = ("count", "class_counts", "shards", "skipped")


def _read_records(out_dir: Path) -> dict[str, dict]:
    records = {}
    for path in sorted(out_dir.glob("*.json")):
        if path.name == MANIFEST_NAME:
            continue
        try:
            record = json.loads(path.read_text())
        except ValueError as err:
            raise DataPrepError(f"{path}: not valid JSON ({err})") from None
        missing = [k for k in SHARED_KEYS + DOMAIN_KEYS + ("domain",) if k not in record]
        if missing:
            raise DataPrepError(f"{path}: not an ingest record, missing key(s) {', '.join(missing)}")
        if record["domain"] != path.stem:
            raise DataPrepError(f"{path}: records domain {record['domain']!r}, expected {path.stem!r}")
        records[record["domain"]] = record
    return records


def build_manifest(out_dir: str | os.PathLike) -> dict:
    """The manifest of the shards in ``out_dir``; raise DataPrepError if the records disagree.

    Every record must share dataset, root, classes, image size, resize policy and version, and
    every domain the ingest jobs saw in ROOT must have its record.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DataPrepError(f"shard folder {out_dir} does not exist (run 'fixclr prep' first)")
    records = _read_records(out_dir)
    if not records:
        raise DataPrepError(f"no <domain>.json ingest record in {out_dir} (run 'fixclr prep' first)")
    first_domain, first = next(iter(records.items()))
    problems = []
    for domain, record in records.items():
        for key in SHARED_KEYS:
            if record[key] != first[key]:
                problems.append(f"{domain}.json has {key}={record[key]!r} but {first_domain}.json has {first[key]!r}")
    expected = set().union(*(r.get("layout_domains", [r["domain"]]) for r in records.values()))
    problems += [f"{d}.json is missing (domain {d} exists in the dataset root but was not ingested)"
                 for d in sorted(expected - set(records))]
    for domain, record in records.items():
        problems += [f"{domain}.json lists shard {s['file']} which does not exist"
                     for s in record["shards"] if not (out_dir / s["file"]).is_file()]
    if problems:
        raise DataPrepError(format_problems(f"cannot build the manifest of {out_dir}", problems))
    manifest = {key: first[key] for key in SHARED_KEYS}
    manifest["domains"] = {d: {k: r[k] for k in DOMAIN_KEYS} for d, r in sorted(records.items())}
    return manifest


def write_manifest(out_dir: str | os.PathLike) -> Path:
    """Build and atomically write ``<out_dir>/manifest.json``; return its path."""
    path = Path(out_dir) / MANIFEST_NAME
    atomic_write_json(path, build_manifest(out_dir))
    return path
