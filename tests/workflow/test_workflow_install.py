"""A non-editable install works outside the repository: `pip install .` of a copy of the project into a
fresh virtual environment, then `fixclr --help` and a Snakemake dry run of the demo config with the
installed workflow (`snakemake -s $(fixclr workflow)`), from a folder that is not the checkout.

The fresh environment reuses this interpreter's packages (torch, Snakemake, ...) through a `.pth`
file naming its site-packages, so nothing is downloaded; only fixclr itself is installed there."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import DEMO_CONFIG, REPO, job_counts

# Top-level folders of a checkout that are not the project's sources (environments, outputs, caches).
NOT_SOURCES = {".git", ".venv", ".snakemake", ".pytest_cache", ".cluster-state", "results", "data", "build", "dist"}


def _copy_sources(target: Path) -> Path:
    def ignore(folder, names):
        top = Path(folder) == REPO
        return [name for name in names if (top and name in NOT_SOURCES) or name == "__pycache__"
                or name.endswith(".egg-info")]

    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)
    return target


def _run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{' '.join(command)}:\n{run.stdout}\n{run.stderr}"
    return run


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with a non-editable install of a copy of this checkout; its bin folder."""
    base = tmp_path_factory.mktemp("install")
    source = _copy_sources(base / "source")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # This interpreter's packages, after the venv's own (only a path: its .pth files, such as an
    # editable install of fixclr, are not run there).
    Path(purelib, "parent-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "."],
         cwd=source, env=_clean_env())
    shutil.rmtree(source)  # nothing may be read from the copy any more
    return venv / "bin"


def _clean_env() -> dict:
    """This process's environment without PYTHONPATH (which would put a checkout first)."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def test_installed_fixclr_runs_from_outside_the_repository(installed, tmp_path):
    env = _clean_env()
    located = _run([str(installed / "python"), "-c", "import fixclr; print(fixclr.__file__)"], tmp_path, env)
    assert Path(located.stdout.strip()).is_relative_to(installed.parent)
    usage = _run([str(installed / "fixclr"), "--help"], tmp_path, env).stdout
    assert usage.startswith("usage: fixclr COMMAND")
    assert "workflow" in usage and "train" in usage


def test_installed_workflow_dry_runs_the_demo_config(installed, tmp_path):
    env = _clean_env()
    snakefile = Path(_run([str(installed / "fixclr"), "workflow"], tmp_path, env).stdout.strip())
    assert snakefile.is_file() and snakefile.is_relative_to(installed.parent)
    shutil.copy(DEMO_CONFIG, tmp_path / "demo.yaml")
    run = _run([str(installed / "python"), "-m", "snakemake", "-s", str(snakefile), "--configfile", "demo.yaml",
                "-n", "-p"], tmp_path, env)
    assert job_counts(run.stdout) == {
        "demo_data": 1, "ingest": 4, "manifest": 1, "verify": 1, "splits": 3,
        "fold_spec": 36, "train": 36, "aggregate": 1, "report": 1, "all": 1,
    }
    await_fold = snakefile.parents[2] / "cluster" / "await_fold.sh"  # package data of cluster/
    assert await_fold.is_file() and f"exec sh {await_fold} results/runs/" in run.stdout
    assert not (tmp_path / "results").exists()  # a dry run writes no artefact
