"""Write one domain's images into HDF5 shards under temporary names; commit renames them.

Layout of a shard (docs/architecture.md): ``images uint8 (N, H, W, 3)`` chunked one image per
chunk, ``labels int64 (N,)``, ``paths`` UTF-8 strings, attributes ``classes`` (JSON),
``domain``, ``image_size``, ``resize_policy``, ``fixclr_version``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from fixclr.io import sha256_file

# h5py filter (and level) per --compression choice; benchmarks/bench_read.py measures them.
STORAGES = ("raw", "jpeg")  # --storage: uint8 rows, or JPEG bytes (vlen uint8) decoded by the reader
JPEG_QUALITY = 90
COMPRESSIONS: dict[str, tuple[str | None, int | None]] = {"none": (None, None), "lzf": ("lzf", None),
                                                          "gzip": ("gzip", 4)}
_WRITE_BATCH = 64
_METADATA_RESERVE = 1 << 20  # free bytes kept beyond the images, for HDF5's metadata and the record


def shard_name(domain: str, index: int) -> str:
    """File name of shard ``index`` of ``domain`` (``mono-000.h5``)."""
    return f"{domain}-{index:03d}.h5"


def shard_files(out_dir: Path, domain: str) -> list[Path]:
    """Existing committed shard files of ``domain`` in ``out_dir``, sorted."""
    pattern = re.compile(re.escape(domain) + r"-\d{3}\.h5")
    return sorted(p for p in out_dir.glob(f"{domain}-*.h5") if pattern.fullmatch(p.name))


def remove_temporaries(out_dir: Path, domain: str) -> None:
    """Delete temporary shards a killed earlier job of ``domain`` left behind."""
    pattern = re.compile(r"\." + re.escape(domain) + r"-\d{3}\.h5\.\d+\.tmp")
    for path in out_dir.glob(f".{domain}-*.tmp"):
        if pattern.fullmatch(path.name):
            path.unlink(missing_ok=True)


class ShardWriter:
    """Append (image, label, path) rows; roll to a new shard every ``rows_per_shard`` rows."""

    def __init__(self, out_dir: Path, domain: str, attrs: dict, image_size: tuple[int, int], rows_per_shard: int,
                 compression: str = "none", storage: str = "raw"):
        self.out_dir, self.domain, self.attrs, self.storage = out_dir, domain, attrs, storage
        self.compression, self.compression_level = COMPRESSIONS[compression]
        self.image_shape = (*image_size, 3)
        self.rows_per_shard = rows_per_shard
        self._temps: list[Path] = []
        self._counts: list[int] = []
        self._file: h5py.File | None = None
        self._pending: list[tuple[np.ndarray, int, str]] = []

    def append(self, image: np.ndarray, label: int, relpath: str) -> None:
        """Queue one row; written in batches."""
        self._pending.append((image, label, relpath))
        if len(self._pending) == _WRITE_BATCH:
            self._flush()

    def _open_next(self) -> None:
        index = len(self._temps)
        temp = self.out_dir / f".{shard_name(self.domain, index)}.{os.getpid()}.tmp"
        self._temps.append(temp)
        self._counts.append(0)
        self._file = h5py.File(temp, "w")
        for key, value in self.attrs.items():
            self._file.attrs[key] = value
        if self.storage == "jpeg":
            self._file.create_dataset("images", shape=(0,), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8),
                                      chunks=(64,))
        else:
            self._file.create_dataset(
                "images", shape=(0, *self.image_shape), maxshape=(None, *self.image_shape), dtype=np.uint8,
                chunks=(1, *self.image_shape), compression=self.compression, compression_opts=self.compression_level,
            )
        self._file.create_dataset("labels", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
        self._file.create_dataset(
            "paths", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype("utf-8"), chunks=(4096,)
        )

    def _flush(self) -> None:
        rows = self._pending
        self._pending = []
        while rows:
            if self._file is None or self._counts[-1] == self.rows_per_shard:
                self._close_current()
                self._open_next()
            start = self._counts[-1]
            take = rows[: self.rows_per_shard - start]
            rows = rows[len(take):]
            self._ensure_space(len(take) * int(np.prod(self.image_shape)))
            end = start + len(take)
            for name, values in zip(("images", "labels", "paths"), zip(*take)):
                dataset = self._file[name]
                dataset.resize(end, axis=0)
                if name != "images":
                    dataset[start:end] = list(values)
                elif self.storage == "jpeg":
                    dataset[start:end] = _as_object_array([encode_jpeg(image) for image in values])
                else:
                    dataset[start:end] = np.stack(values)
            self._counts[-1] = end

    def _close_current(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def _ensure_space(self, nbytes: int) -> None:
        """Refuse to write ``nbytes`` more without room for them and the file's metadata.

        HDF5 must never meet a full disk: a file whose writes failed cannot be closed, and
        HDF5 retries (and crashes the process) at interpreter exit.
        """
        stat = os.statvfs(self.out_dir)
        free = stat.f_bavail * stat.f_frsize
        if free < nbytes + _METADATA_RESERVE:
            raise OSError(errno.ENOSPC, f"No space left on device ({free} bytes free, {nbytes} needed)",
                          str(self.out_dir))

    def commit(self) -> list[dict]:
        """Close, hash and rename every shard to its final name; return the shard records."""
        self._flush()
        self._close_current()
        records = []
        for index, (temp, count) in enumerate(zip(self._temps, self._counts)):
            final = self.out_dir / shard_name(self.domain, index)
            records.append({"file": final.name, "count": count, "sha256": sha256_file(temp), "bytes": temp.stat().st_size})
            os.replace(temp, final)
        self._temps = []
        return records

    def discard(self) -> None:
        """Close and delete every temporary shard (after an error, also a full disk)."""
        self._pending = []
        self._close_current()
        for temp in self._temps:
            temp.unlink(missing_ok=True)
        self._temps = []


def encode_jpeg(image: np.ndarray) -> np.ndarray:
    """JPEG bytes (quality JPEG_QUALITY, 4:4:4) of a uint8 HxWx3 image, as a uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _as_object_array(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


def shard_attributes(dataset: str, domain: str, classes: list[str], image_size: tuple[int, int],
                     resize_policy: str, version: str) -> dict:
    """The HDF5 attributes every shard carries."""
    return {
        "dataset": dataset, "domain": domain, "classes": json.dumps(classes),
        "image_size": list(image_size), "resize_policy": resize_policy, "fixclr_version": version,
    }
