# Image folders -> HDF5 shards (one ingest job per domain) -> manifest -> verify stamp -> label
# splits, and the ImageNet weights of pretrained backbones. The work is done by `fixclr demo-data|
# prep|manifest|verify|splits|weights` (data_prep/, fixclr/).


rule demo_data:
    output:
        directory(f"{RESULTS}/data/{{dataset}}"),
    log:
        f"{RESULTS}/logs/demo_data/{{dataset}}.log",
    conda:
        ENVIRONMENT
    params:
        seed=SWEEP["data"]["demo_seed"],
        domains=lambda wc: ",".join(dataset_facts(SWEEP, wc.dataset).domains),
    shell:
        "fixclr demo-data --out {output:q} --seed {params.seed} --domains {params.domains:q} > {log:q} 2>&1"


rule ingest:
    input:
        demo_folder,
    output:
        f"{RESULTS}/shards/{{dataset}}/{{domain}}.json",
    log:
        f"{RESULTS}/logs/ingest/{{dataset}}/{{domain}}.log",
    conda:
        ENVIRONMENT
    threads: SWEEP["data"]["ingest_cores"]
    params:
        root=lambda wc: dataset_root(SWEEP, wc.dataset),
        out=lambda wc: shards_dir(SWEEP, wc.dataset),
        size=image_size,
        preset=preset_option,
        skip_bad=lambda wc: "--skip-bad" if SWEEP["datasets"][wc.dataset]["skip_bad"] else "",
    shell:
        "fixclr prep --root {params.root:q} --dataset {wildcards.dataset:q} --out {params.out:q}"
        " --domain {wildcards.domain:q} --image-size {params.size} --workers {threads}"
        " {params.preset} {params.skip_bad} --no-progress > {log:q} 2>&1"


rule manifest:
    input:
        domain_records,
    output:
        f"{RESULTS}/shards/{{dataset}}/manifest.json",
    log:
        f"{RESULTS}/logs/manifest/{{dataset}}.log",
    conda:
        ENVIRONMENT
    params:
        out=lambda wc: shards_dir(SWEEP, wc.dataset),
    shell:
        "fixclr manifest --out {params.out:q} > {log:q} 2>&1"


rule verify:
    # Every shard hashed once per dataset; fold starts then check only sizes and mtimes against the stamp.
    input:
        lambda wc: manifest_path(SWEEP, wc.dataset),
    output:
        f"{RESULTS}/shards/{{dataset}}/verified.stamp",
    log:
        f"{RESULTS}/logs/verify/{{dataset}}.log",
    conda:
        ENVIRONMENT
    shell:
        "fixclr verify {input:q} > {log:q} 2>&1"


rule splits:
    input:
        lambda wc: manifest_path(SWEEP, wc.dataset),
    output:
        f"{RESULTS}/splits/{{dataset}}/n{{labels}}_s{{seed}}.json",
    log:
        f"{RESULTS}/logs/splits/{{dataset}}/n{{labels}}_s{{seed}}.log",
    conda:
        ENVIRONMENT
    params:
        val_fraction=SWEEP["data"]["val_fraction"],
    shell:
        "fixclr splits --manifest {input:q} --seed {wildcards.seed} --labels-per-class {wildcards.labels}"
        " --val-fraction {params.val_fraction} --out {output:q} > {log:q} 2>&1"


rule weights:
    # A local rule: the login node has internet, compute nodes only read the file.
    output:
        f"{SWEEP['weights_dir']}/{{backbone}}.pth",
    log:
        f"{RESULTS}/logs/weights/{{backbone}}.log",
    localrule: True
    conda:
        ENVIRONMENT
    params:
        backbone=weights_backbone,
    shell:
        "fixclr weights --backbone {params.backbone:q} --out {output:q} > {log:q} 2>&1"
