# One job per fold: write its fold.yaml, then cluster/await_fold.sh hands it to the sweep's one
# poller (cluster/poller.py), which submits it to SLURM (submitit) with its wave, or runs it as a
# local process, and waits in a shell loop until the fold's `done` or `failed` marker appears. The
# training rule is a local rule: with --profile slurm, Snakemake only waits on the login node while
# submitit owns the jobs, so a killed Snakemake never kills or forgets them. Its outputs are
# result.json and the `done` marker (both written by the trainer), so deleting `done` is enough to
# retrain a fold.


rule fold_spec:
    output:
        "{run_dir}/fold.yaml",
    log:
        "{run_dir}/fold_spec.log",
    localrule: True
    conda:
        ENVIRONMENT
    params:
        spec=lambda wc: json.dumps(FOLDS[wc.run_dir].spec, sort_keys=True),
    shell:
        "python -m fixclr.sweep {output:q} {params.spec:q} > {log:q} 2>&1"


rule train:
    input:
        unpack(fold_inputs),
    output:
        result="{run_dir}/result.json",
        done="{run_dir}/done",
    log:
        "{run_dir}/submit.log",
    localrule: True
    conda:
        ENVIRONMENT
    threads: SWEEP["launch"]["cpus_per_task"] if SWEEP["cluster"] == "local" else 1
    params:
        # the shell loop that waits for the fold (cluster/poller.py polls SLURM for the whole sweep)
        await_fold=AWAIT_FOLD,
        folder=lambda wc: FOLDS[wc.run_dir].spec["launch"]["submitit_folder"],
        poll_s=SWEEP["launch"]["poll_s"],
    shell:
        "exec sh {params.await_fold:q} {input.spec:q} {params.folder:q} {params.poll_s} > {log:q} 2>&1"
