"""A sweep config: load and validate it, expand it into folds, write each fold's ``fold.yaml``.

Shared by the Snakefile (the DAG), the launcher (``fixclr status/resubmit --sweep``) and the
results (which folds are missing). A config is checked against the JSON schema
(``fixclr/workflow/schemas/config.schema.yaml``, which also supplies the defaults), then against
what the project knows: registered methods, the dataset's domains, and the size of its smallest
class. Every error names the offending key.

Modules: ``paths`` (artefact names and paths), ``schema`` (the JSON schema, validation filling
defaults), ``facts`` (a dataset's domains and class sizes), ``checks`` (the checks beyond the
schema), ``load`` (``load_sweep``), ``folds`` (expansion into folds, ``fold.yaml``), ``errors``;
``python -m fixclr.sweep`` writes one fold spec (the workflow's fold_spec rule).
"""

from fixclr.sweep.errors import SweepConfigError
from fixclr.sweep.facts import DatasetFacts, dataset_facts, target_domains
from fixclr.sweep.folds import (
    Fold,
    expand_folds,
    fold_launch,
    fold_spec_text,
    trial_folder,
    with_trial,
    write_fold_spec,
)
from fixclr.sweep.load import SLURM_LAUNCH_ENV, load_sweep, slurm_fold_launch
from fixclr.sweep.paths import (
    backbone_slug,
    dataset_root,
    manifest_path,
    shards_dir,
    split_path,
    weights_path,
)
from fixclr.sweep.schema import sweep_schema
from fixclr.variant import variant_name

__all__ = [
    "SLURM_LAUNCH_ENV",
    "DatasetFacts",
    "Fold",
    "SweepConfigError",
    "backbone_slug",
    "dataset_facts",
    "dataset_root",
    "expand_folds",
    "fold_launch",
    "fold_spec_text",
    "load_sweep",
    "manifest_path",
    "shards_dir",
    "slurm_fold_launch",
    "split_path",
    "sweep_schema",
    "target_domains",
    "trial_folder",
    "variant_name",
    "weights_path",
    "with_trial",
    "write_fold_spec",
]
