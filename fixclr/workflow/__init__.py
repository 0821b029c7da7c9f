"""The Snakemake workflow of a sweep, shipped inside the package: ``Snakefile``, ``rules/*.smk``
and ``schemas/config.schema.yaml``; ``recovery`` is what the Snakefile runs after a killed Snakemake.

``fixclr workflow`` prints the installed Snakefile, so that ``snakemake -s $(fixclr workflow)
--configfile CONFIG`` runs a sweep from any folder; a checkout's ``./Snakefile`` includes it.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

# The slurm profile's launch settings of folds, next to its config.yaml: `snakemake --profile slurm`
# finds the profile as ./slurm (in a checkout a link to cluster/profiles/slurm).
PROFILE_LAUNCH_FILE = Path("slurm", "launch.yaml")


def snakefile() -> Path:
    """The installed workflow's Snakefile."""
    return Path(str(resources.files(__name__).joinpath("Snakefile")))


def profile_launch_file(main_snakefile_dir: str) -> str | None:
    """The slurm profile's ``launch.yaml``: in the working directory's ``./slurm``, else in the one
    next to the main Snakefile (a checkout's, also under ``--directory``); None when there is none."""
    for folder in (Path.cwd(), Path(main_snakefile_dir)):
        if (folder / PROFILE_LAUNCH_FILE).is_file():
            return str(folder / PROFILE_LAUNCH_FILE)
    return None


def main(argv: list[str] | None = None) -> int:
    """``fixclr workflow``: print the path of the installed Snakefile."""
    parser = argparse.ArgumentParser(
        prog="fixclr workflow",
        description="Print the installed workflow's Snakefile, e.g. for snakemake -s $(fixclr workflow) "
                    "--configfile config.yaml (run in the folder that gets results/).",
    )
    parser.parse_args(argv)
    print(snakefile())
    return 0
