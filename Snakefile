# The fixclr workflow, shipped in the package (fixclr/workflow/Snakefile; `fixclr workflow`
# prints its path): `snakemake` and `snakemake --profile slurm` in the repository root run it.
from fixclr.workflow import snakefile

workflow.include(snakefile(), overwrite_default_target=True)
