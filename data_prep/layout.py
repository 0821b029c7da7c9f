"""Scan the image-folder layout ``ROOT/<domain>/<class>/<image file>`` of a whole dataset.

Listing folders is cheap, so every ingest job scans the whole ROOT and catches cross-domain
problems (a class folder missing in one domain, an empty class folder, a preset mismatch)
before decoding anything.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import DataPrepError, format_problems
from data_prep.presets import Preset, normalise


@dataclass(frozen=True)
class SourceFile:
    """One image file: its path relative to ROOT and its class index."""

    relpath: str
    label: int


@dataclass(frozen=True)
class Layout:
    """The folder structure of a dataset: sorted domains, sorted classes, files per domain."""

    root: Path
    domains: tuple[str, ...]
    classes: tuple[str, ...]
    files: dict[str, tuple[SourceFile, ...]]
    ignored: tuple[str, ...]
    not_regular: tuple[str, ...] = ()  # skipped entries of class folders: FIFOs, dangling or looping links

    def resolve_domain(self, name: str) -> str:
        """The domain folder called ``name`` (exactly, else after preset-style normalisation)."""
        if name in self.domains:
            return name
        matches = [d for d in self.domains if normalise(d) == normalise(name)]
        if len(matches) != 1:
            raise DataPrepError(f"domain {name!r} not found in {self.root}; domains: {', '.join(self.domains)}")
        return matches[0]


def _visible_entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as error:
        raise DataPrepError(f"cannot list folder {folder} ({error.strerror}); check its permissions, "
                            "or remove it from the dataset root") from None


def _is(entry: os.DirEntry, test: str) -> bool:
    """``entry.is_dir()`` / ``entry.is_file()``, False for a symbolic link loop (instead of raising)."""
    try:
        return getattr(entry, test)()
    except OSError:
        return False


def _kind(entry: os.DirEntry) -> str:
    """What a class-folder entry that is neither a folder nor a regular file is."""
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        return "dangling or looping symbolic link"
    return "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "not a regular file"


def scan_layout(root: str | os.PathLike, preset: Preset | None = None) -> Layout:
    """List ROOT's domains, classes and files; raise DataPrepError naming every problem.

    Hidden entries are ignored. Files directly under ROOT or a domain folder, and folders
    inside class folders, are not part of the layout and are reported in ``Layout.ignored``.
    """
    root = Path(root)
    if not root.exists():
        raise DataPrepError(f"dataset root {root} does not exist")
    if not root.is_dir():
        raise DataPrepError(f"dataset root {root} is not a folder")
    ignored: list[str] = []
    not_regular: list[str] = []
    class_sets: dict[str, list[str]] = {}
    entries: dict[str, dict[str, list[os.DirEntry]]] = {}
    for domain_entry in _visible_entries(root):
        if not _is(domain_entry, "is_dir"):
            ignored.append(domain_entry.name)
            continue
        domain = domain_entry.name
        entries[domain] = {}
        for class_entry in _visible_entries(Path(domain_entry.path)):
            if not _is(class_entry, "is_dir"):
                ignored.append(f"{domain}/{class_entry.name}")
                continue
            files = []
            for file_entry in _visible_entries(Path(class_entry.path)):
                if _is(file_entry, "is_dir"):
                    ignored.append(f"{domain}/{class_entry.name}/{file_entry.name}/")
                elif _is(file_entry, "is_file"):
                    files.append(file_entry)
                else:  # a FIFO would block decoding forever; a broken link cannot be read
                    not_regular.append(f"{domain}/{class_entry.name}/{file_entry.name} ({_kind(file_entry)})")
            entries[domain][class_entry.name] = files
        class_sets[domain] = sorted(entries[domain])
    if not entries:
        raise DataPrepError(f"dataset root {root} contains no domain folders (expected ROOT/<domain>/<class>/<image>)")
    problems = _structure_problems(entries, class_sets)
    if preset is not None:
        problems += preset.mismatches(sorted(entries), sorted(set().union(*map(set, class_sets.values()))))
    if problems:
        raise DataPrepError(format_problems(f"dataset root {root} has an invalid layout", problems))
    classes = tuple(next(iter(class_sets.values())))
    files = {
        domain: tuple(
            SourceFile(f"{domain}/{cls}/{e.name}", classes.index(cls))
            for cls in classes
            for e in entries[domain][cls]
        )
        for domain in sorted(entries)
    }
    return Layout(root, tuple(sorted(entries)), classes, files, tuple(ignored), tuple(not_regular))


def _structure_problems(entries: dict[str, dict[str, list]], class_sets: dict[str, list[str]]) -> list[str]:
    problems = []
    all_classes = sorted(set().union(*map(set, class_sets.values())))
    for domain, classes in class_sets.items():
        if not classes:
            problems.append(f"domain folder {domain}/ has no class folders")
            continue
        missing = [c for c in all_classes if c not in classes]
        if missing:
            problems.append(f"domain {domain} lacks class folder(s) {', '.join(missing)} found in other domains")
        for cls in classes:
            if not entries[domain][cls]:
                problems.append(f"class folder {domain}/{cls}/ is empty")
    return problems


def count_class_files(root: str | os.PathLike, domains: list[str]) -> dict[str, dict[str, int]] | None:
    """Visible files per class folder of each of ``domains`` (a listing, nothing decoded), or None
    when a domain folder cannot be listed (``prep`` then reports the problem)."""
    counts = {}
    try:
        for domain in domains:
            counts[domain] = {
                entry.name: sum(1 for e in _visible_entries(Path(entry.path)) if _is(e, "is_file"))
                for entry in _visible_entries(Path(root, domain)) if _is(entry, "is_dir")
            }
    except DataPrepError:
        return None
    return counts if all(counts.values()) else None
