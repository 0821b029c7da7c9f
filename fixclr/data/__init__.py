"""Reading the HDF5 shards, manifests and split files (see docs/architecture.md)."""

from fixclr.data.hdf5 import (
    DataFileError,
    DomainImages,
    ShardIntegrityError,
    check_split,
    load_manifest,
    load_split,
    read_domain_labels,
    read_domain_paths,
    verify_manifest,
)

__all__ = [
    "DataFileError",
    "DomainImages",
    "ShardIntegrityError",
    "check_split",
    "load_manifest",
    "load_split",
    "read_domain_labels",
    "read_domain_paths",
    "verify_manifest",
]
