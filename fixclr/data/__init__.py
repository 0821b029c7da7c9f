"""Reading the HDF5 shards, manifests and split files (see docs/architecture.md)."""

from fixclr.data.hdf5 import (
    DomainImages,
    ShardIntegrityError,
    load_manifest,
    load_split,
    read_domain_labels,
    read_domain_paths,
    verify_manifest,
)

__all__ = [
    "DomainImages",
    "ShardIntegrityError",
    "load_manifest",
    "load_split",
    "read_domain_labels",
    "read_domain_paths",
    "verify_manifest",
]
