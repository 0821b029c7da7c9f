"""Run the real Snakemake of this repository on a config, in a scratch working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "config" / "config.yaml"
MULTI_CONFIG = REPO / "config" / "multi.yaml"
TINY_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(workdir: Path, *args: str, configfile: Path = TINY_CONFIG, timeout: float = 900) -> subprocess.CompletedProcess:
    """``snakemake -s <repo>/Snakefile --configfile CONFIG --directory WORKDIR ARGS`` (output captured)."""
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--configfile", str(configfile),
               "--directory", str(workdir), *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry run: rule -> number of jobs."""
    lines = output[output.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def write_config(path: Path, base: Path = TINY_CONFIG, **changes) -> Path:
    """A copy of the ``base`` config with top-level keys replaced."""
    config = yaml.safe_load(base.read_text())
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path
