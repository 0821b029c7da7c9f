# Finished folds' result.json and metrics.jsonl -> Parquet tables (selection from the records) -> report
# (fixclr/results/).


rule aggregate:
    input:
        [f"{run_dir}/{name}" for run_dir in FOLDS for name in ("result.json", "done")],
    output:
        folds=f"{RESULTS}/tables/folds.parquet",
        summary=f"{RESULTS}/tables/summary.parquet",
        selected=f"{RESULTS}/tables/selected.parquet",
        per_class=f"{RESULTS}/tables/per_class.parquet",
        evaluations=f"{RESULTS}/tables/evaluations.parquet",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        ENVIRONMENT
    params:
        runs=lambda wc: f"{RESULTS}/runs",
        tables=lambda wc, output: os.path.dirname(output.folds),
    shell:
        "fixclr aggregate --runs {params.runs:q} --out {params.tables:q} > {log:q} 2>&1"


rule report:
    input:
        folds=rules.aggregate.output.folds,
        summary=rules.aggregate.output.summary,
    output:
        md=f"{RESULTS}/report/summary.md",
        png=f"{RESULTS}/report/summary.png",
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        ENVIRONMENT
    params:
        tables=lambda wc, input: os.path.dirname(input.folds),
        out=lambda wc, output: os.path.dirname(output.md),
    shell:
        "fixclr report --tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"
