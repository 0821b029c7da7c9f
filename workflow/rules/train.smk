# One job per fold: write its fold.yaml, then `fixclr submit FOLD --wait` (cluster/) runs it as a
# local process or a SLURM job (submitit) and returns when it has ended. The training rule is a
# local rule: with --profile slurm, Snakemake only waits on the login node while submitit owns
# the jobs, so a killed Snakemake never kills or forgets them. Its outputs are result.json and
# the `done` marker (both written by the trainer), so deleting `done` is enough to retrain a fold.


rule fold_spec:
    output:
        "{run_dir}/fold.yaml",
    params:
        spec=lambda wc: json.dumps(FOLDS[wc.run_dir].spec, sort_keys=True),
    localrule: True
    log:
        "{run_dir}/fold_spec.log",
    conda:
        ENVIRONMENT
    shell:
        "python -m fixclr.sweep {output:q} {params.spec:q} > {log:q} 2>&1"


rule train:
    input:
        unpack(fold_inputs),
    output:
        result="{run_dir}/result.json",
        done="{run_dir}/done",
    threads: SWEEP["launch"]["cpus_per_task"] if SWEEP["cluster"] == "local" else 1
    localrule: True
    log:
        "{run_dir}/submit.log",
    conda:
        ENVIRONMENT
    shell:
        "fixclr submit {input.spec:q} --wait > {log:q} 2>&1"
