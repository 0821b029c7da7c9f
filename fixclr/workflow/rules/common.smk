# Input functions of the rules: thin adaptors from wildcards to fixclr.sweep's paths.
import re
from importlib import resources

from fixclr.data.stamp import STAMP_NAME
from fixclr.sweep import backbone_slug, dataset_facts, dataset_root, manifest_path, shards_dir, split_path, weights_path

# The train rule's shell loop that waits for a fold (package data of cluster/).
AWAIT_FOLD = str(resources.files("cluster").joinpath("await_fold.sh"))


def demo_folder(wildcards):
    """The generated image folder when the dataset is a demo (its ingest jobs wait for it)."""
    if SWEEP["datasets"][wildcards.dataset]["demo"]:
        return dataset_root(SWEEP, wildcards.dataset)
    return []


def domain_records(wildcards):
    """Every `<domain>.json` ingest record of a dataset."""
    folder = shards_dir(SWEEP, wildcards.dataset)
    return [folder / f"{domain}.json" for domain in dataset_facts(SWEEP, wildcards.dataset).domains]


def image_size(wildcards):
    """--image-size HxW of a dataset."""
    height, width = SWEEP["datasets"][wildcards.dataset]["image_size"]
    return f"{height}x{width}"


def preset_option(wildcards):
    """--preset NAME when the config names one (fixclr prep otherwise uses the dataset name)."""
    preset = SWEEP["datasets"][wildcards.dataset].get("preset")
    return f"--preset {preset}" if preset else ""


def fold_inputs(wildcards):
    """fold.yaml, the dataset's manifest, verify stamp and split, and the backbone's weights when pretrained."""
    train = FOLDS[wildcards.run_dir].spec["train"]
    inputs = {
        "spec": f"{wildcards.run_dir}/fold.yaml",
        "manifest": manifest_path(SWEEP, train["dataset"]),
        "stamp": manifest_path(SWEEP, train["dataset"]).with_name(STAMP_NAME),
        "split": split_path(SWEEP, train["dataset"], train["labels_per_class"], train["seed"]),
    }
    if train["pretrained"]:
        inputs["weights"] = weights_path(SWEEP, train["backbone"])
    return inputs


def weights_backbone(wildcards):
    """The backbone whose weights file is `<backbone slug>.pth` (timm:<model> is saved as timm-<model>.pth)."""
    return {backbone_slug(name): name for name in SWEEP["sweep"]["backbones"]}[wildcards.backbone]


wildcard_constraints:
    dataset="|".join(map(re.escape, SWEEP["datasets"])),
    domain=r"(?!manifest\.json$)[^/]+",  # manifest.json is not a domain record
    run_dir=re.escape(f"{RESULTS}/runs/") + ".+",
