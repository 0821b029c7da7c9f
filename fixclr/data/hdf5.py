"""Reading side of the shards: manifest and split loading, integrity check, a per-domain dataset.

No torch import: ``DomainImages`` is a plain map-style dataset that a DataLoader accepts, and
``data_prep`` reuses the label reader.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from fixclr.errors import UserError
from fixclr.io import sha256_file

MANIFEST_KEYS = ("dataset", "image_size", "classes", "domains")
MANIFEST_DOMAIN_KEYS = ("count", "class_counts", "shards")
SPLIT_KEYS = ("dataset", "manifest_sha256", "seed", "labels_per_class", "val_fraction", "domains")
SPLIT_PARTS = ("labeled", "unlabeled", "val")


class DataFileError(UserError, ValueError):
    """A manifest or split file that is not valid JSON, lacks keys, or breaks its contract."""


class ShardIntegrityError(UserError):
    """A shard is missing, or its bytes differ from the sha256 recorded in the manifest."""


def _load_json(path: str | os.PathLike, what: str) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except ValueError as err:
        raise DataFileError(f"{what} {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise DataFileError(f"{what} {path} must hold a JSON object")
    return data


def load_manifest(path: str | os.PathLike) -> dict:
    """The manifest as a dict; a missing key raises ValueError naming it and the file."""
    manifest = _load_json(path, "manifest")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    for domain, entry in manifest.get("domains", {}).items():
        missing += [f"domains.{domain}.{k}" for k in MANIFEST_DOMAIN_KEYS if k not in entry]
    if missing:
        raise DataFileError(f"manifest {path} lacks key(s) {', '.join(missing)}")
    return manifest


SPLIT_ADVICE = "re-create it with 'fixclr splits' (or delete it and rerun the workflow)"


def load_split(path: str | os.PathLike) -> dict:
    """The split file as a dict; missing keys, non-integer indices or overlapping parts raise
    DataFileError naming the file."""
    split = _load_json(path, "split file")
    missing = [k for k in SPLIT_KEYS if k not in split]
    for domain, parts in split.get("domains", {}).items():
        missing += [f"domains.{domain}.{k}" for k in SPLIT_PARTS if k not in parts]
    if missing:
        raise DataFileError(f"split file {path} lacks key(s) {', '.join(missing)}")
    if not _is_int(split["labels_per_class"]) or split["labels_per_class"] < 1:
        raise DataFileError(f"split file {path}: labels_per_class must be a positive integer, got "
                            f"{split['labels_per_class']!r}; {SPLIT_ADVICE}")
    for domain, parts in split["domains"].items():
        for part in SPLIT_PARTS:
            bad = [i for i in parts[part] if not _is_int(i)] if isinstance(parts[part], list) else [parts[part]]
            if bad:
                raise DataFileError(f"split file {path}: domains.{domain}.{part} must list integer positions, "
                                    f"got {bad[0]!r}; {SPLIT_ADVICE}")
        sizes = sum(len(parts[k]) for k in SPLIT_PARTS)
        if len(set().union(*(parts[k] for k in SPLIT_PARTS))) != sizes:
            raise DataFileError(f"split file {path}: domain {domain}'s labeled/unlabeled/val lists overlap; {SPLIT_ADVICE}")
    return split


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_split(split: dict, split_path: str | os.PathLike, manifest: dict, manifest_path: str | os.PathLike) -> None:
    """The split's contract against its manifest: every domain present, every image of a domain
    in exactly one part (positions in range, none dropped), exactly ``labels_per_class`` labeled
    images per class and domain. Raises DataFileError naming the split file."""
    def fail(problem: str) -> None:
        raise DataFileError(f"split file {split_path}: {problem}; {SPLIT_ADVICE}")

    domains = split["domains"]
    if sorted(domains) != sorted(manifest["domains"]):
        fail(f"its domains {', '.join(sorted(domains))} differ from {manifest_path}'s "
             f"{', '.join(sorted(manifest['domains']))}")
    wanted = split["labels_per_class"]
    for domain, parts in domains.items():
        count = manifest["domains"][domain]["count"]
        positions = [i for part in SPLIT_PARTS for i in parts[part]]
        outside = [i for i in positions if not 0 <= i < count]
        if outside:
            fail(f"domain {domain}: position {outside[0]} is out of range (the domain has {count} images)")
        if len(positions) != count:
            fail(f"domain {domain}: its parts hold {len(positions)} of the domain's {count} images")
        labels = read_domain_labels(manifest_path, domain)[np.asarray(parts["labeled"], dtype=np.int64)]
        per_class = np.bincount(labels, minlength=len(manifest["classes"]))
        for label, n in enumerate(per_class.tolist()):
            if n != wanted:
                fail(f"domain {domain}: class {manifest['classes'][label]} has {n} labeled images, "
                     f"labels_per_class is {wanted}")


_VERIFIED: set[tuple[str, int, int]] = set()


def check_shard_hash(shard_path: Path, domain: str, sha256: str, manifest_path, why: str = "") -> None:
    """Hash one shard; raise ShardIntegrityError naming it when the sha256 is not the manifest's."""
    if sha256_file(shard_path) != sha256:
        raise ShardIntegrityError(
            f"shard {shard_path} of domain {domain} is corrupt: its sha256 differs from the manifest "
            f"{manifest_path} ({why + ', ' if why else ''}truncated or modified); re-run the 'fixclr prep' that "
            f"wrote it (it re-ingests a changed shard; or rerun the workflow after deleting "
            f"{shard_path.parent / (domain + '.json')})"
        )


def verify_manifest(path: str | os.PathLike) -> dict:
    """Check every shard's sha256 against the manifest (once per process per unchanged file).

    Raises ShardIntegrityError naming the first missing or modified shard; returns the manifest.
    """
    manifest = load_manifest(path)
    folder = Path(path).parent
    for domain, entry in manifest["domains"].items():
        for shard in entry["shards"]:
            shard_path = folder / shard["file"]
            if not shard_path.is_file():
                raise ShardIntegrityError(f"shard {shard_path} of domain {domain} is missing")
            stat = shard_path.stat()
            key = (str(shard_path.resolve()), stat.st_size, stat.st_mtime_ns)
            if key in _VERIFIED:
                continue
            check_shard_hash(shard_path, domain, shard["sha256"], path)
            _VERIFIED.add(key)
    return manifest


def _domain_entry(manifest: dict, manifest_path, domain: str) -> dict:
    if domain not in manifest["domains"]:
        known = ", ".join(manifest["domains"])
        raise KeyError(f"domain {domain!r} is not in manifest {manifest_path}; domains: {known}")
    return manifest["domains"][domain]


def open_shard(path: Path, locking=None) -> h5py.File:
    """Open a shard read-only; ``locking`` as in h5py (False for NFS/Lustre without locks)."""
    try:
        return h5py.File(path, "r", locking=locking)
    except OSError as err:
        if "locking flag" not in str(err):
            raise
        raise OSError(f"{path} is already open in this process with another locking setting than "
                      f"locking={locking!r}; use one setting per process") from None


def _read_domain_column(manifest_path, domain: str, name: str, locking) -> list[np.ndarray]:
    manifest = load_manifest(manifest_path)
    folder = Path(manifest_path).parent
    columns = []
    for shard in _domain_entry(manifest, manifest_path, domain)["shards"]:
        with open_shard(folder / shard["file"], locking) as f:
            columns.append(f[name][()])
    return columns


def read_domain_labels(manifest_path: str | os.PathLike, domain: str, locking=None) -> np.ndarray:
    """int64 labels of every image of ``domain``, by position, without reading images."""
    columns = _read_domain_column(manifest_path, domain, "labels", locking)
    return np.concatenate(columns).astype(np.int64) if columns else np.zeros(0, dtype=np.int64)


def read_domain_paths(manifest_path: str | os.PathLike, domain: str, locking=None) -> list[str]:
    """Source path (relative to the dataset root) of every image of ``domain``, by position."""
    columns = _read_domain_column(manifest_path, domain, "paths", locking)
    return [p.decode("utf-8") if isinstance(p, bytes) else p for column in columns for p in column]


def _is_encoded(dataset: h5py.Dataset) -> bool:
    """True for a shard of ``prep --storage jpeg``: one JPEG byte string per row."""
    return h5py.check_vlen_dtype(dataset.dtype) is not None


def _decode_jpeg(encoded: np.ndarray, out: np.ndarray) -> None:
    with Image.open(io.BytesIO(encoded.tobytes())) as image:
        decoded = np.asarray(image.convert("RGB"))
    if decoded.shape != out.shape:
        raise ValueError(f"a JPEG row decodes to {decoded.shape}, the shard's image shape is {out.shape}")
    out[...] = decoded


def _raw_layout(path: Path, dataset: h5py.Dataset) -> tuple[int, np.ndarray] | None:
    """(fd, byte offset of each row's chunk) when every image is one unfiltered chunk; else None."""
    row_bytes = int(np.prod(dataset.shape[1:]))
    if dataset.dtype != np.uint8 or dataset.chunks != (1, *dataset.shape[1:]) or dataset.compression:
        return None
    offsets = np.full(len(dataset), -1, dtype=np.int64)

    def note(info) -> None:
        if info.filter_mask == 0 and info.size == row_bytes:
            offsets[info.chunk_offset[0]] = info.byte_offset

    try:
        dataset.id.chunk_iter(note)
    except (AttributeError, RuntimeError):  # h5py < 3.8 or HDF5 < 1.12.3: keep h5py's reads
        return None
    return (os.open(path, os.O_RDONLY), offsets) if (offsets >= 0).all() else None


RUN_BYTES = 1 << 20  # raw reads: the most bytes of consecutive rows read in one os.preadv


def _copy_image(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for one (H, W, C) image. When ``dst``'s pixels are evenly strided (a
    channels-first row seen channels-last) it is copied as (pixels, channels), which numpy does
    about 1.6x faster than the 3-d strided copy at 224x224."""
    height, width, channels = dst.shape
    if dst.strides[0] != width * dst.strides[1]:
        dst[...] = src
        return
    flat = np.lib.stride_tricks.as_strided(dst, (height * width, channels), dst.strides[1:])
    flat[...] = src.reshape(height * width, channels)


class DomainImages:
    """Map-style dataset over one domain's shards: ``ds[i] -> (uint8 HxWx3 image, int label)``.

    ``positions`` selects and orders the exposed images (positions in the domain). HDF5 files
    are opened lazily in each process and reopened after a fork; ``locking`` is passed to
    ``h5py.File`` (``False`` for NFS/Lustre without working locks).
    """

    def __init__(self, manifest_path: str | os.PathLike, domain: str, positions=None, locking=None):
        self.manifest_path = Path(manifest_path)
        self.domain = domain
        self.locking = locking
        manifest = load_manifest(manifest_path)
        entry = _domain_entry(manifest, manifest_path, domain)
        self.classes: list[str] = list(manifest["classes"])
        self.files = [self.manifest_path.parent / s["file"] for s in entry["shards"]]
        offsets = np.cumsum([0] + [s["count"] for s in entry["shards"]])
        total = int(offsets[-1])
        self.positions = np.arange(total) if positions is None else np.asarray(positions, dtype=np.int64)
        if self.positions.size and (self.positions.min() < 0 or self.positions.max() >= total):
            raise IndexError(f"positions out of range for domain {domain} with {total} images")
        self._shard_of = np.searchsorted(offsets, self.positions, side="right") - 1
        self._row_of = self.positions - offsets[self._shard_of]
        self.labels = read_domain_labels(manifest_path, domain, locking)[self.positions]
        self.image_shape = (*manifest["image_size"], 3)
        self._handles: dict[int, tuple[h5py.File, h5py.Dataset]] = {}
        self._raw: dict[int, tuple[int, np.ndarray] | None] = {}  # raw shards: fd and row offsets (pread is fork-safe)
        self._run_buffer: np.ndarray | None = None
        self._pid = os.getpid()

    @property
    def paths(self) -> list[str]:
        """Source paths (relative to the dataset root) of the exposed images, in order."""
        every = read_domain_paths(self.manifest_path, self.domain, self.locking)
        return [every[p] for p in self.positions]

    def __len__(self) -> int:
        return len(self.positions)

    def _images(self, shard: int) -> h5py.Dataset:
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()  # never use a handle inherited across fork
        if shard not in self._handles:
            handle = open_shard(self.files[shard], self.locking)
            self._handles[shard] = (handle, handle["images"])
        return self._handles[shard][1]

    def _read_into(self, out: np.ndarray, index: int) -> None:
        images = self._images(int(self._shard_of[index]))
        if _is_encoded(images):
            _decode_jpeg(images[int(self._row_of[index])], out)
        else:
            images.read_direct(out, source_sel=np.s_[int(self._row_of[index])])

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        image = np.empty(self.image_shape, dtype=np.uint8)
        self._read_into(image, index)
        return image, int(self.labels[index])

    def __getitems__(self, indices: list[int]) -> list[tuple[np.ndarray, int]]:
        """A DataLoader batch: rows read in file order into one buffer, returned in request order."""
        batch = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        for slot in np.argsort(self.positions[indices], kind="stable"):
            self._read_into(batch[slot], indices[slot])
        return [(batch[slot], int(self.labels[index])) for slot, index in enumerate(indices)]

    def read_rows(self, indices) -> np.ndarray:
        """The images at ``indices`` as ``uint8 (n, H, W, 3)`` in request order."""
        images = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        self.read_into(indices, images, np.arange(len(images)))
        return images

    def read_into(self, indices, out: np.ndarray, slots) -> None:
        """Write the image at ``indices[k]`` into ``out[slots[k]]``; ``out`` is any uint8
        ``(m, H, W, 3)`` array, also a strided view (a channels-first batch seen channels-last).

        Rows are sorted per shard. Raw shards (uncompressed, one image per chunk, the default) are
        read at the chunks' byte offsets with one ``os.preadv`` per run of consecutive rows,
        bypassing h5py's per-call selection cost (into ``out`` when its rows are contiguous, else
        through a small buffer that stays in cache); JPEG shards (``prep --storage jpeg``) are decoded
        with PIL; other shards read every run of consecutive rows in one h5py call.
        """
        indices, slots = np.asarray(indices, dtype=np.int64), np.asarray(slots, dtype=np.int64)
        shards, rows = self._shard_of[indices], self._row_of[indices]
        order = np.lexsort((rows, shards))
        for shard in np.unique(shards):
            picked = order[shards[order] == shard]
            direct, dataset = self._direct(int(shard)), self._images(int(shard))
            if direct is not None:
                self._pread(direct, out, slots[picked], rows[picked], int(shard))
            elif _is_encoded(dataset):
                for slot, row in zip(slots[picked], rows[picked]):
                    _decode_jpeg(dataset[int(row)], out[slot])
            else:
                self._read_runs(dataset, out, slots[picked], rows[picked])

    def _direct(self, shard: int) -> tuple[int, np.ndarray] | None:
        """(read-only file descriptor, byte offset of every row) of a raw shard, else None."""
        dataset = self._images(shard)
        if shard not in self._raw:
            self._raw[shard] = _raw_layout(self.files[shard], dataset)
        return self._raw[shard]

    def _pread(self, direct: tuple[int, np.ndarray], out: np.ndarray, slots, rows, shard: int) -> None:
        """The (sorted) ``rows`` into ``out[slots]``: one ``os.preadv`` per run of rows whose chunks
        follow each other in the file (at most RUN_BYTES), into ``out``'s rows when they are
        contiguous, else into a run buffer then copied row by row."""
        fd, offsets = direct
        row_bytes = int(np.prod(self.image_shape))
        starts, per_run = offsets[rows], max(1, RUN_BYTES // row_bytes)
        contiguous = out[:1].flags.c_contiguous
        breaks = np.flatnonzero(np.diff(starts) != row_bytes) + 1
        for first, end in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            for begin in range(int(first), int(end), per_run):
                run = slots[begin:min(begin + per_run, int(end))]
                targets = [out[slot] for slot in run] if contiguous else [self._buffer(len(run))]
                if os.preadv(fd, targets, int(starts[begin])) != len(run) * row_bytes:
                    raise OSError(f"{self.files[shard]}: short read of row {rows[begin]} (the file was truncated)")
                if not contiguous:
                    for image, slot in zip(targets[0], run):
                        _copy_image(out[slot], image)

    def _buffer(self, count: int) -> np.ndarray:
        """``count`` images of a reused read buffer (RUN_BYTES or one image: it stays in cache)."""
        if self._run_buffer is None:
            per_run = max(1, RUN_BYTES // int(np.prod(self.image_shape)))
            self._run_buffer = np.empty((per_run, *self.image_shape), dtype=np.uint8)
        return self._run_buffer[:count]

    @staticmethod
    def _read_runs(dataset: h5py.Dataset, out: np.ndarray, slots, rows) -> None:
        starts = np.flatnonzero(np.r_[True, np.diff(rows) != 1])
        for start, end in zip(starts, np.r_[starts[1:], len(rows)]):
            first = int(rows[start])
            run = np.empty((end - start, *out.shape[1:]), dtype=np.uint8)
            dataset.read_direct(run, source_sel=np.s_[first:first + end - start])
            out[slots[start:end]] = run

    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every exposed image as one ``uint8 (N, H, W, 3)`` array, with the labels.

        A shard of which at least a quarter is exposed is read in one block, else row by row.
        """
        images = np.empty((len(self), *self.image_shape), dtype=np.uint8)
        for shard in range(len(self.files)):
            where = np.flatnonzero(self._shard_of == shard)
            if not where.size:
                continue
            dataset = self._images(shard)
            if _is_encoded(dataset):
                images[where] = self.read_rows(where)
            elif 4 * where.size >= len(dataset):
                images[where] = dataset[()][self._row_of[where]]
            else:
                for index in where[np.argsort(self._row_of[where], kind="stable")]:
                    self._read_into(images[index], index)
        return images, self.labels.copy()

    def close(self) -> None:
        """Close the open HDF5 handles of this process."""
        for handle, _ in self._handles.values():
            handle.close()
        for direct in self._raw.values():
            if direct is not None:
                os.close(direct[0])
        self._handles, self._raw = {}, {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"], state["_raw"], state["_run_buffer"] = {}, {}, None
        return state
