"""Shard integrity at O(1) per fold: hash every shard once (``fixclr verify``), then trust a stamp.

``verify_dataset`` checks every shard's sha256 against the manifest and atomically writes the
stamp ``verified.stamp`` next to it: the manifest's sha256 and, per shard, its size, mtime_ns
and sha256. ``check_shards`` (a fold start) compares only the size and mtime of the shards it
reads with the stamp; a shard whose facts differ, or every shard when the stamp is missing or
belongs to another manifest, is hashed in full, and a hash that differs from the manifest is
refused with ShardIntegrityError naming the shard.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fixclr.data.hdf5 import _VERIFIED, ShardIntegrityError, check_shard_hash, load_manifest
from fixclr.errors import ArgumentParser
from fixclr.io import atomic_write_json, sha256_file

STAMP_NAME = "verified.stamp"


def stamp_path(manifest_path: str | os.PathLike) -> Path:
    """The stamp file of a manifest: ``verified.stamp`` in the manifest's folder."""
    return Path(manifest_path).parent / STAMP_NAME


def _shards(manifest: dict, domains) -> list[tuple[str, dict]]:
    return [(domain, shard) for domain in domains for shard in manifest["domains"][domain]["shards"]]


def _facts(path: Path, domain: str) -> tuple[int, int]:
    if not path.is_file():
        raise ShardIntegrityError(f"shard {path} of domain {domain} is missing")
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def verify_dataset(manifest_path: str | os.PathLike) -> Path:
    """Hash every shard of the manifest, then atomically write its stamp; returns the stamp's path."""
    manifest = load_manifest(manifest_path)
    folder, shards = Path(manifest_path).parent, {}
    for domain, shard in _shards(manifest, manifest["domains"]):
        path = folder / shard["file"]
        before = _facts(path, domain)
        check_shard_hash(path, domain, shard["sha256"], manifest_path)
        if _facts(path, domain) != before:
            raise ShardIntegrityError(f"shard {path} of domain {domain} changed while it was being verified")
        shards[shard["file"]] = {"size": before[0], "mtime_ns": before[1], "sha256": shard["sha256"]}
    stamp = stamp_path(manifest_path)
    atomic_write_json(stamp, {"manifest_sha256": sha256_file(manifest_path), "shards": shards})
    return stamp


def _read_stamp(manifest_path) -> dict:
    """The stamp's shard facts if it exists and belongs to this manifest, else {}."""
    try:
        stamp = json.loads(stamp_path(manifest_path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stamp, dict) or stamp.get("manifest_sha256") != sha256_file(manifest_path):
        return {}
    return stamp.get("shards", {})


def check_shards(manifest_path: str | os.PathLike, domains=None) -> dict:
    """Check the shards of ``domains`` (default all) against the stamp, hashing only where it does not vouch.

    Returns the manifest; prints one line when it had to hash (no valid stamp, or changed shards).
    """
    manifest = load_manifest(manifest_path)
    domains = list(manifest["domains"]) if domains is None else domains
    folder, stamped, hashed = Path(manifest_path).parent, _read_stamp(manifest_path), 0
    for domain, shard in _shards(manifest, domains):
        path = folder / shard["file"]
        size, mtime_ns = _facts(path, domain)
        facts = stamped.get(shard["file"])
        if facts and facts.get("sha256") == shard["sha256"] and (facts["size"], facts["mtime_ns"]) == (size, mtime_ns):
            continue
        if facts and facts["size"] != size:
            raise ShardIntegrityError(
                f"shard {path} of domain {domain} changed after verification: {size} bytes, the stamp "
                f"{stamp_path(manifest_path)} recorded {facts['size']} (truncated or modified: re-run 'fixclr prep')")
        key = (str(path.resolve()), size, mtime_ns)
        if key in _VERIFIED:  # hashed earlier by this process, unchanged since
            continue
        check_shard_hash(path, domain, shard["sha256"], manifest_path,
                         "modified after verification" if facts else "no valid stamp")
        _VERIFIED.add(key)
        hashed += 1
    if hashed:
        print(f"data: hashed {hashed} shard(s) of {manifest_path} (no valid stamp for them; "
              f"'fixclr verify {manifest_path}' writes one)", flush=True)
    return manifest


def main(argv: list[str]) -> int:
    """``fixclr verify MANIFEST``: hash every shard once and write the stamp fold starts trust."""
    parser = ArgumentParser(prog="fixclr verify",
                                     description="Check every shard's sha256 and write the verified.stamp folds trust.")
    parser.add_argument("manifest", help="manifest.json written by 'fixclr manifest'")
    args = parser.parse_args(argv)
    stamp = verify_dataset(args.manifest)  # user errors (a bad shard, no manifest): fixclr.cli prints them
    print(f"verify: wrote {stamp}", file=sys.stderr)
    return 0
