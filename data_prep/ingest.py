"""Ingest one domain of a scanned layout into HDF5 shards plus ``<domain>.json`` (written last).

Decoding runs in a process pool; rows are written in source order to temporary shards that are
renamed only when every file decoded (or, with ``skip_bad``, was skipped and recorded). A
re-run on unchanged input and settings is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

import fixclr
from data_prep.errors import DataPrepError, format_problems
from data_prep.images import BadImage, decode_image, describe_policy
from data_prep.layout import Layout
from data_prep.manifest import MANIFEST_DOMAIN, MANIFEST_NAME
from data_prep.shards import ShardWriter, remove_temporaries, shard_attributes, shard_files
from fixclr.errors import disk_full
from fixclr.io import atomic_write_json, sha256_file


@dataclass(frozen=True)
class IngestSettings:
    """Everything besides the source files that determines a domain's shards."""

    dataset: str
    image_size: tuple[int, int] = (224, 224)
    resize_policy: str = "stretch"
    skip_bad: bool = False
    shard_max_bytes: int = 1024 << 20
    preset: str | None = None
    compression: str = "none"
    storage: str = "raw"  # raw | jpeg (data_prep.shards.STORAGES)


def available_cores() -> int:
    """Cores this job may use: the CPU affinity mask, capped by SLURM_CPUS_PER_TASK if set."""
    cores = len(os.sched_getaffinity(0))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    return min(cores, int(slurm)) if slurm.isdigit() and int(slurm) > 0 else cores


def record_path(out_dir: Path, domain: str) -> Path:
    """``<out>/<domain>.json``: the per-domain ingest record, the ingest job's declared output."""
    return out_dir / f"{domain}.json"


def input_fingerprint(layout: Layout, domain: str, settings: IngestSettings) -> str:
    """sha256 over the domain's file list (path, size, mtime), the class list and the settings."""
    stats = [(layout.root / f.relpath).stat() for f in layout.files[domain]]  # this domain's files only
    payload = {
        "root": str(layout.root.resolve()), "classes": layout.classes, "domain": domain,
        "files": [(f.relpath, st.st_size, st.st_mtime_ns) for f, st in zip(layout.files[domain], stats)],
        "settings": asdict(settings), "version": fixclr.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _is_up_to_date(out_dir: Path, domain: str, fingerprint: str) -> dict | None:
    path = record_path(out_dir, domain)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("input_fingerprint") != fingerprint:
        return None
    for shard in record.get("shards", []):  # the bytes, not only the size: a corrupt shard is re-ingested
        shard_path = out_dir / shard["file"]
        if not shard_path.is_file() or shard_path.stat().st_size != shard.get("bytes"):
            return None
        if sha256_file(shard_path) != shard.get("sha256"):
            print(f"prep {domain}: {shard_path} differs from its record (sha256): re-ingesting", file=sys.stderr)
            return None
    return record


def _disk_full_error(out_dir: Path, domain: str) -> DataPrepError:
    return DataPrepError(f"no space left on device writing the shards of domain {domain} to {out_dir} (nothing of "
                         "it was kept); free space there or give another --out")


def _decode_task(task: tuple[str, int, int, str]):
    path, height, width, policy = task
    try:
        return decode_image(path, height, width, policy)
    except (BadImage, FileNotFoundError) as err:
        return str(err)


def _decoded(layout: Layout, domain: str, settings: IngestSettings, workers: int) -> Iterator:
    tasks = [(str(layout.root / f.relpath), *settings.image_size, settings.resize_policy) for f in layout.files[domain]]
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_decode_task, tasks)
        return
    with multiprocessing.get_context("fork").Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_decode_task, tasks, chunksize=8)


def _decode_into(writer: ShardWriter, layout: Layout, domain: str, settings: IngestSettings, workers: int,
                 progress: bool) -> tuple[list[dict], Counter]:
    """Decode the domain's files in order into ``writer``; return (skipped files, class counts)."""
    files = layout.files[domain]
    skipped, class_counts = [], Counter()
    with tqdm(total=len(files), unit="img", desc=f"prep {domain}", file=sys.stderr, disable=not progress,
              mininterval=1.0, smoothing=0.1) as bar, closing(_decoded(layout, domain, settings, workers)) as decoded:
        for source, result in zip(files, decoded):
            bar.update()
            if isinstance(result, str):
                skipped.append({"path": source.relpath, "reason": result})
                continue
            writer.append(result, source.label, source.relpath)
            class_counts[layout.classes[source.label]] += 1
    return skipped, class_counts


def ingest_domain(layout: Layout, domain: str, out_dir: str | os.PathLike, settings: IngestSettings,
                  workers: int | None = None, progress: bool = True, force: bool = False) -> dict:
    """Write ``<out>/<domain>-NNN.h5`` and then ``<out>/<domain>.json``; return the record.

    Raises DataPrepError listing every undecodable file (and writes nothing) unless
    ``settings.skip_bad``, in which case they are skipped and listed in the record. Unchanged
    input with intact shards is not re-ingested unless ``force``.
    """
    if domain not in layout.files:
        raise DataPrepError(f"domain {domain!r} not found in {layout.root}; domains: {', '.join(layout.domains)}")
    if domain == MANIFEST_DOMAIN:
        raise DataPrepError(f"domain folder {layout.root / domain}: its record {domain}.json would be the shard "
                            f"folder's {MANIFEST_NAME}; rename the folder (e.g. {domain}_)")
    out_dir = Path(out_dir)
    fingerprint = input_fingerprint(layout, domain, settings)
    if not force and (record := _is_up_to_date(out_dir, domain, fingerprint)) is not None:
        print(f"prep {domain}: up to date ({record['count']} images), nothing to do", file=sys.stderr)
        return record
    policy_text = describe_policy(settings.resize_policy)
    height, width = settings.image_size
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_temporaries(out_dir, domain)
    attrs = shard_attributes(settings.dataset, domain, list(layout.classes), settings.image_size,
                             policy_text, fixclr.__version__)
    started = time.perf_counter()
    writer = ShardWriter(out_dir, domain, attrs, settings.image_size,
                         rows_per_shard=max(1, settings.shard_max_bytes // (height * width * 3)),
                         compression=settings.compression, storage=settings.storage)
    try:
        skipped, class_counts = _decode_into(writer, layout, domain, settings, workers or available_cores(), progress)
        if skipped and not settings.skip_bad:
            problems = [f"{layout.root / s['path']}: {s['reason']}" for s in skipped]
            raise DataPrepError(format_problems(f"domain {domain}: undecodable image files, nothing written "
                                                "(re-run with --skip-bad to skip and list them)", problems))
        if not class_counts:
            raise DataPrepError(f"domain {domain}: no decodable image in {layout.root / domain}")
        record_path(out_dir, domain).unlink(missing_ok=True)
        shards = writer.commit()
    except BaseException as error:
        writer.discard()
        if disk_full(error):
            raise _disk_full_error(out_dir, domain) from None
        raise
    kept = {s["file"] for s in shards}
    for stale in shard_files(out_dir, domain):
        if stale.name not in kept:
            stale.unlink()
    record = {
        "dataset": settings.dataset, "root": str(layout.root.resolve()), "domain": domain,
        "image_size": list(settings.image_size), "resize_policy": policy_text, "classes": list(layout.classes),
        "fixclr_version": fixclr.__version__, "preset": settings.preset, "layout_domains": list(layout.domains),
        "input_fingerprint": fingerprint, "count": sum(class_counts.values()),
        "class_counts": {c: class_counts.get(c, 0) for c in layout.classes}, "shards": shards, "skipped": skipped,
    }
    try:
        atomic_write_json(record_path(out_dir, domain), record)
    except OSError as error:
        for shard in shards:  # shards without their record: not a finished ingest
            (out_dir / shard["file"]).unlink(missing_ok=True)
        if disk_full(error):
            raise _disk_full_error(out_dir, domain) from None
        raise
    rate = len(layout.files[domain]) / (time.perf_counter() - started)
    print(f"prep {domain}: {record['count']} images in {len(shards)} shard(s), {len(skipped)} skipped "
          f"({rate:.0f} images/s)", file=sys.stderr)
    return record
