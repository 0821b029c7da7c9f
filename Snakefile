# fixclr sweep: data -> shards -> splits -> folds -> tables -> report (docs/architecture.md).
# The config (config/config.yaml, or --configfile FILE which replaces it) is validated by
# fixclr.sweep against workflow/schemas/config.schema.yaml before any rule is built.
import json
import os
import sys

from snakemake.utils import min_version

from fixclr.sweep import SLURM_LAUNCH_ENV, expand_folds, load_sweep, slurm_fold_launch
from fixclr.workflow_recovery import recover_after_kill

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


SWEEP = load_sweep(config)
RESULTS = SWEEP["results_dir"]
FOLDS = {str(fold.run_dir): fold for fold in expand_folds(SWEEP)}
if workflow.is_main_process:  # after a killed Snakemake: its stale lock, folds finished meanwhile
    for line in recover_after_kill(os.getcwd(), list(FOLDS.values())):
        print(line, file=sys.stderr)
ENVIRONMENT = "../../environment.yml"  # conda environment of every rule (relative to workflow/rules)
# The rules call `fixclr`: make it the one installed next to the Python running Snakemake, also
# when its virtual environment is not activated.
os.environ.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


onstart:
    # Where folds train follows the executor, not the config (a --config on the command line
    # replaces a profile's config list): under the SLURM executor the fold_spec rule writes every
    # fold with these launch settings (local rules inherit this process's environment).
    if workflow.executor_plugin.name == "slurm":
        os.environ[SLURM_LAUNCH_ENV] = json.dumps(slurm_fold_launch(config))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/results.smk"


rule all:
    input:
        f"{RESULTS}/report/summary.md",
        f"{RESULTS}/report/summary.png",
        # requested here, so that a fold whose `done` was deleted is retrained (Snakemake does not
        # rerun a job only because an input of an up-to-date downstream job is missing)
        [f"{run_dir}/done" for run_dir in FOLDS],
    default_target: True
