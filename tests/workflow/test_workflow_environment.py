"""environment.yml (conda, clusters) declares the same dependencies as pyproject.toml (pip).

Conda cannot run here, so the two files are compared: same packages, same version bounds."""

from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement
from workflow_helpers import REPO

CONDA_NAMES = {"pytorch": "torch"}  # conda package -> pip distribution, where they differ
CONDA_ONLY = {"python", "pip", "pytorch-gpu"}  # the interpreter, pip itself, the CUDA build selector


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [text for extra in project["optional-dependencies"].values() for text in extra]
    return {Requirement(text).name.lower(): str(Requirement(text).specifier) for text in requirements}


def conda_requirements() -> tuple[dict[str, str], list]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip_section = {}, []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_section = entry["pip"]
            continue
        requirement = Requirement(entry.split("#")[0].strip())
        conda[CONDA_NAMES.get(requirement.name, requirement.name).lower()] = str(requirement.specifier)
    return conda, pip_section


def test_same_packages_and_version_bounds():
    conda, _ = conda_requirements()
    assert {name: spec for name, spec in conda.items() if name not in CONDA_ONLY} == pip_requirements()


def test_python_bound_matches_and_fixclr_itself_is_installed():
    conda, pip_section = conda_requirements()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert conda["python"] == project["requires-python"]
    assert pip_section == ["--editable ."]
    assert "pytorch-gpu" in conda  # clusters get the CUDA build


def test_python_is_the_one_snakemake_9_needs_and_torch_patch_releases_are_allowed():
    pip = pip_requirements()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    for name, patch in (("torch", "2.14.2"), ("torchvision", "0.29.2")):  # the next patch of make venv's pin
        assert Requirement(f"{name}{pip[name]}").specifier.contains(patch)


def test_cluster_channels():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    assert environment["channels"][:2] == ["conda-forge", "bioconda"]  # bioconda: snakemake and its plugin
