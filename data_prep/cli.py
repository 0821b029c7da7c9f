"""``fixclr demo-data | prep | manifest | splits``: each a ``main(argv) -> int``.

User errors (bad input, bad layout, bad options) raise DataPrepError; ``fixclr.cli`` prints
them as one line and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys

from data_prep.errors import DataPrepError
from data_prep.presets import DEMO_DOMAINS, PRESETS
from fixclr.errors import ArgumentParser


def _image_size(text: str) -> tuple[int, int]:
    try:
        sizes = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must be N or HxW, got {text!r}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"image size must be N or HxW with positive sides, got {text!r}")
    return (sizes[0], sizes[-1])


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def demo_main(argv: list[str]) -> int:
    """Generate the digits-dg-mini image folder."""
    from data_prep.demo import STYLES, generate

    parser = ArgumentParser(prog="fixclr demo-data", description="Generate the digits-dg-mini image folder.")
    parser.add_argument("--out", required=True, help="folder to write ROOT/<domain>/<digit>/<n>.png into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domains", default=",".join(DEMO_DOMAINS),
                        help=f"comma-separated styles among {', '.join(STYLES)} (default: %(default)s)")
    args = parser.parse_args(argv)
    root = generate(args.out, seed=args.seed, domains=[d for d in args.domains.split(",") if d])
    print(f"demo-data: wrote {root}", file=sys.stderr)
    return 0


def prep_main(argv: list[str]) -> int:
    """Ingest one domain (or all) of ROOT into HDF5 shards and ``<domain>.json``."""
    from data_prep.images import RESIZE_POLICIES
    from data_prep.ingest import IngestSettings, available_cores, ingest_domain
    from data_prep.layout import scan_layout
    from data_prep.shards import COMPRESSIONS, STORAGES

    parser = ArgumentParser(prog="fixclr prep", description="Ingest ROOT/<domain>/<class>/<image> into HDF5.")
    parser.add_argument("--root", required=True, help="dataset root folder")
    parser.add_argument("--dataset", required=True, help="dataset name recorded in shards and manifest")
    parser.add_argument("--out", required=True, help="shard folder, e.g. results/shards/NAME")
    parser.add_argument("--domain", action="append", help="domain to ingest (repeatable; default: all)")
    parser.add_argument("--preset", choices=PRESETS.names(),
                        help="check ROOT against a known dataset (default: --dataset if it names a preset)")
    parser.add_argument("--image-size", type=_image_size,
                        help="N or HxW (default: the preset's, 32 for digits, else 224)")
    parser.add_argument("--resize-policy", choices=RESIZE_POLICIES, default="stretch")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="decoding processes (default: cores given, honours SLURM_CPUS_PER_TASK)")
    parser.add_argument("--skip-bad", action="store_true", help="skip undecodable files, list them in the manifest")
    parser.add_argument("--shard-max-mb", type=_positive_int, default=1024, help="shard size limit in MiB")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none",
                        help="HDF5 image compression (default none: fastest reads, see benchmarks/bench_read.py)")
    parser.add_argument("--force", action="store_true", help="re-ingest even when the shards are up to date")
    parser.add_argument("--storage", choices=STORAGES, default="raw",
                        help="raw uint8 rows (default: fastest reads) or JPEG bytes decoded when read (about a "
                             "tenth of the disk for photos)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    preset_name = args.preset or (args.dataset if args.dataset in PRESETS else None)
    preset = PRESETS.get(preset_name) if preset_name else None
    image_size = args.image_size or ((preset.image_size,) * 2 if preset else (224, 224))
    layout = scan_layout(args.root, preset)
    if layout.ignored:
        print(f"prep: ignoring {len(layout.ignored)} entries outside the layout, e.g. {layout.ignored[0]}",
              file=sys.stderr)
    if layout.not_regular:
        print(f"prep: skipping {len(layout.not_regular)} entries that are not regular files: "
              f"{', '.join(layout.not_regular[:5])}{', ...' if len(layout.not_regular) > 5 else ''}", file=sys.stderr)
    settings = IngestSettings(dataset=args.dataset, image_size=image_size, resize_policy=args.resize_policy,
                              skip_bad=args.skip_bad, shard_max_bytes=args.shard_max_mb << 20, preset=preset_name,
                              compression=args.compression, storage=args.storage)
    domains = [layout.resolve_domain(d) for d in args.domain] if args.domain else list(layout.domains)
    workers = args.workers or available_cores()
    failures = []
    for domain in domains:  # a failed domain writes nothing; the others still run, all errors are reported
        try:
            ingest_domain(layout, domain, args.out, settings, workers=workers, progress=not args.no_progress,
                          force=args.force)
        except DataPrepError as err:
            failures.append(str(err))
    if failures:
        raise DataPrepError("\n".join(failures))
    return 0


def manifest_main(argv: list[str]) -> int:
    """Merge ``<out>/<domain>.json`` records into ``<out>/manifest.json``."""
    from data_prep.manifest import write_manifest

    parser = ArgumentParser(prog="fixclr manifest", description="Merge ingest records into manifest.json.")
    parser.add_argument("--out", required=True, help="shard folder written by 'fixclr prep'")
    args = parser.parse_args(argv)
    path = write_manifest(args.out)
    print(f"manifest: wrote {path}", file=sys.stderr)
    return 0


def splits_main(argv: list[str]) -> int:
    """Write a labeled / unlabeled / validation split file."""
    from data_prep.splits import write_split

    parser = ArgumentParser(prog="fixclr splits", description="Write a label split file.")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--labels-per-class", type=_positive_int, required=True)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--out", required=True, help="e.g. results/splits/NAME/nL_sS.json")
    args = parser.parse_args(argv)
    path = write_split(args.manifest, args.seed, args.labels_per_class, args.val_fraction, args.out)
    print(f"splits: wrote {path}", file=sys.stderr)
    return 0
