"""Fold configuration: defaults < file < command line; unknown keys and wrong types are errors.

A config file is either a plain mapping of these keys or a launcher's ``fold.yaml``, whose
``train:`` section is the training config (its ``launch:`` section is ignored here).
Command-line overrides are ``key=value`` with dotted nested keys (``fixclr.lambda=0.1``);
values are parsed as YAML (``true``, ``0.1``, ``null``; also ``3e-2`` where a number is expected).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from fixclr.errors import UserError

DEFAULTS: dict[str, Any] = {
    # identity of the fold
    "dataset": None,  # checked against the manifest when given
    "manifest": None,  # path to manifest.json (required)
    "split": None,  # path to the split json (required)
    "target_domain": None,  # held-out domain (required)
    "out_dir": None,  # run folder (required)
    "method": "fixmatch",  # any name in fixclr.methods.METHODS
    "regularizer": "none",  # none | fixclr
    # lambda/temperature: picked on SOURCE-validation accuracy on the demo (FixMatch+FixCLR, seed 0,
    # targets mono and photo, 800 steps): mean source-val acc 56.3 (0.1, 0.2), 61.5 (0.3, 0.2),
    # 65.3 (0.1, 0.5), 57.3 (0.3, 0.5); FixMatch alone 62.9 on the same folds.
    "fixclr": {
        "lambda": 0.1,  # weight of L_fixclr
        "temperature": 0.5,
        "attract": False,  # true: full supervised contrastive loss (same-class positives)
        "negatives": "class",  # class | instance
        "embedding": "projection",  # projection (MLP head) | features (backbone features)
        "views": "weak",  # view of the unlabeled images whose embeddings enter the loss
        "warmup_fraction": 0.0,  # linear warm-up of lambda over this fraction of the steps
        "use_mask": True,  # unlabeled anchors only where the method trusts the pseudo-label
    },
    "flexmatch": {"warmup": True},  # threshold warm-up over the unused unlabeled samples
    "freematch": {"ema_decay": 0.999, "fairness_weight": 0.001},  # 0.001: every FreeMatch config USB ships
    "softmatch": {"ema_decay": 0.999, "dist_align": True, "n_sigma": 2.0,
                  "dist_align_init": "batch"},  # batch: first batch's mean (USB) | uniform: 1/C
    "defixmatch": {"labeled_strong_weight": 0.5},  # supervised CE = (1 - w) weak + w strong view (paper: 1/2)
    "debiaspl": {"tau": 0.4, "ema_decay": 0.999},  # debiasing strength (paper: 0.4), EMA decay of the class marginal
    "variant": None,  # the variant's name (fixclr/variant.py), set by the sweep; default <method>[+<regularizer>]
    "backbone": "cnn",  # cnn | resnet18 | resnet50 | timm:<model> (optional dependency timm)
    "width": 16,  # channels of the small CNN's first stage
    "pretrained": False,  # ImageNet weights (ResNets), from `weights` or torch's cache
    "weights": None,  # explicit weights file for pretrained ResNets
    "proj_dim": 64,  # output size of the projection head
    "labels_per_class": None,  # checked against the split file when given
    "seed": 0,
    # training
    # the recipe (steps, batch_size, mu, the knobs below): chosen in issue 10's ablation on source-validation
    # accuracy of two dataset families (docs/recipe.md); ~70 s per FixMatch fold of the demo on one CPU core
    "steps": 500,
    "batch_size": 32,  # labeled images per global batch, balanced over source domains
    "mu": 3,  # unlabeled batch = mu * batch_size (balanced over source domains: unlabeled_balanced)
    "lr": 0.03,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "threshold": 0.95,  # confidence threshold of FixMatch pseudo-labels
    "unlabeled_warmup_fraction": 0.0,  # linear warm-up of the unlabeled loss's weight over this fraction of the steps
    "ema_decay": 0.0,  # > 0: evaluate an exponential moving average of the weights
    "flip": False,  # random horizontal flips in the weak view (off for digits)
    "eval_every": 100,
    "eval_batch_size": 256,
    "checkpoint_every": 200,
    "device": "auto",  # auto | cpu | cuda
    "dtype": "float32",  # float64: parameters and activations in double (CPU exactness checks)
    "threads": 0,  # torch CPU threads; 0 keeps torch's default
    "num_workers": 0,  # DataLoader worker processes of stream mode (0: read in the training process)
    "precision": "auto",  # auto (bf16 on CUDA with bf16, else fp16 + grad scaler; fp32 on CPU) | bf16 | fp16 | fp32
    "tf32": True,  # TF32 in CUDA matmuls and cuDNN convolutions (Ampere and later); no effect on CPU
    "compile": False,  # torch.compile the model (not the augmenter or the loss); ignored with a message where unavailable
    "data_mode": "auto",  # memory | stream | auto (memory when the fold's images fit data_memory_fraction)
    # auto: memory mode when 2x the fold's image bytes fit this share of the host memory per rank and
    # 1x fits this share of the GPU's (fixclr/data/stream.py mode_for). 0.25 leaves three quarters for
    # model, activations, workers and page cache. A 24 GB host keeps up to 2.9 GiB of images in memory
    # (PACS, Office-Home; a 24,000-image 224x224 fold, 3.4 GiB, streams); a 256 GB node with 8 ranks
    # 4 GiB per rank, with 1 rank an 80 GB GPU's 20 GB; DomainNet (88 GB) streams everywhere.
    "data_memory_fraction": 0.25,
    "prefetch": 2,  # stream mode: batches each worker reads ahead
    "search": {"trial": 0, "trials": 1},  # this fold's hyperparameter trial (set by the sweep; fixclr/hparams.py)
    "logging": "none",  # none | tensorboard: also write the metrics.jsonl figures as TensorBoard events
    # recipe knobs (issue 10's ablation, docs/recipe.md); before it: true, false, 3, 2, reflect
    "weight_decay_norm_bias": False,  # true: weight decay on every parameter; false: conv/linear weights only
    "unlabeled_balanced": True,  # false: the unlabeled batch pooled over the source domains
    "cnn_stages": 4,  # small CNN: stages of widths w, 2w, 4w, ... each ending in a 2x2 max-pool
    "cnn_convs_per_stage": 1,  # small CNN: conv3x3-BN-ReLU layers per stage (stages 4, convs 1: 4-block CNN)
    "crop_padding": "replicate",  # padding of the weak view's translation: reflect | replicate
}

CHOICES: dict[str, tuple[str, ...]] = {
    "regularizer": ("none", "fixclr"),
    "fixclr.negatives": ("class", "instance"),
    "fixclr.embedding": ("projection", "features"),
    "fixclr.views": ("weak", "strong"),
    "softmatch.dist_align_init": ("batch", "uniform"),
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("float32", "float64"),
    "precision": ("auto", "bf16", "fp16", "fp32"),
    "data_mode": ("auto", "memory", "stream"),
    "logging": ("none", "tensorboard"),
    "crop_padding": ("reflect", "replicate"),
}
# The backbones fixclr/models/backbones.py registers, known here without importing torch (the
# workflow stays torch-free; tests/train/test_models.py checks that the two agree).
BUILTIN_BACKBONES = ("cnn", "resnet18", "resnet50")
TIMM_PREFIX = "timm:"  # any timm model: timm:<model>
REQUIRED = ("manifest", "split", "target_domain", "out_dir")
# Keys that do not change what is computed: left out of the config hash so that a checkpoint
# stays valid when the fold is moved or relaunched with other I/O settings.
RUNTIME_KEYS = ("out_dir", "variant", "checkpoint_every", "num_workers", "eval_batch_size", "data_mode",
                "data_memory_fraction", "prefetch")



class ConfigError(UserError, ValueError):
    """A config key is unknown, missing, or has a bad value."""


# Scientific notation YAML 1.1 reads as a string (``3e-2``, ``1e6``: no dot or no exponent sign).
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def number_from_text(value: Any, integer: bool = False) -> Any:
    """``value`` as a float (an int when ``integer`` and whole) if it is a string in scientific
    notation, else ``value`` unchanged."""
    if not (isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip())):
        return value
    number = float(value)
    return int(number) if integer and number.is_integer() else number


def coerce_numbers(cfg: dict, defaults: dict = DEFAULTS) -> dict:
    """Convert in place the scientific-notation strings of ``cfg`` where ``defaults`` has a number."""
    for key, value in cfg.items():
        default = defaults.get(key) if isinstance(defaults, dict) else None
        if isinstance(default, dict) and isinstance(value, dict):
            coerce_numbers(value, default)
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            cfg[key] = number_from_text(value, integer=isinstance(default, int))
    return cfg


# Ranges (low, high, low inclusive, high inclusive) of numeric keys; None is unbounded.
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "lr": (0.0, None, True, False),  # 0 is allowed: a fold that only evaluates its starting weights
    "momentum": (0.0, 1.0, True, False),
    "weight_decay": (0.0, None, True, False),
    "threshold": (0.0, 1.0, True, True),  # 0: every pseudo-label is trusted (tests, ablations)
    "threads": (0, None, True, False),
    "num_workers": (0, None, True, False),
    "eval_batch_size": (1, None, True, False),
    "seed": (0, None, True, False),
    "fixclr.lambda": (0.0, None, True, False),
    "freematch.ema_decay": (0.0, 1.0, True, False),
    "freematch.fairness_weight": (0.0, None, True, False),
    "softmatch.ema_decay": (0.0, 1.0, True, False),
    "softmatch.n_sigma": (0.0, None, False, False),
    "labels_per_class": (1, None, True, False),
    "defixmatch.labeled_strong_weight": (0.0, 1.0, True, True),
    "debiaspl.tau": (0.0, None, True, False),
    "debiaspl.ema_decay": (0.0, 1.0, True, False),
    "cnn_stages": (1, 5, True, True),  # 5 max-pools take 32x32 images to 1x1
    "cnn_convs_per_stage": (1, None, True, False),
}


def _range_text(low, high, low_in: bool, high_in: bool) -> str:
    if high is None:
        return f"{'>=' if low_in else '>'} {low}"
    return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def _check_ranges(cfg: dict) -> None:
    for key, (low, high, low_in, high_in) in RANGES.items():
        value = get(cfg, key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
        below = value < low if low_in else value <= low
        above = high is not None and (value > high if high_in else value >= high)
        if below or above:
            raise ConfigError(f"config key {key!r} must be {_range_text(low, high, low_in, high_in)}, got {value}")


def _merge(base: dict, update: dict, where: str, prefix: str = "") -> None:
    """Merge ``update`` into ``base`` in place, refusing keys that ``base`` does not have."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(sorted(f"{prefix}{k}" for k in base))
            raise ConfigError(f"unknown config key {dotted!r} in {where}; known keys: {known}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r} in {where} must be a mapping, got {value!r}")
            _merge(base[key], value, where, prefix=f"{dotted}.")
        else:
            base[key] = value


def _parse_override(text: str) -> dict:
    """``a.b=value`` -> ``{"a": {"b": value}}`` with the value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"command-line override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw else None
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def read_config_file(path: str | Path) -> dict:
    """The training mapping of a config file: its ``train:`` section if it has one (fold.yaml)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    if "train" in data:
        data = data["train"]
        if not isinstance(data, dict):
            raise ConfigError(f"section 'train' of {path} must be a mapping")
    return data


def _check_types(cfg: dict, defaults: dict, prefix: str = "") -> None:
    for key, default in defaults.items():
        dotted, value = f"{prefix}{key}", cfg[key]
        if isinstance(default, dict):
            _check_types(value, default, f"{dotted}.")
        elif default is None or value is None:
            continue
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"config key {dotted!r} must be true or false, got {value!r}")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config key {dotted!r} must be a number, got {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise ConfigError(f"config key {dotted!r} must be an integer, got {value!r}")
        elif not isinstance(value, type(default)):
            raise ConfigError(f"config key {dotted!r} must be a {type(default).__name__}, got {value!r}")


def get(cfg: dict, dotted: str) -> Any:
    """Value of a dotted key (``fixclr.lambda``)."""
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def validate(cfg: dict) -> dict:
    """Check a full config (types, choices, required keys, ranges); returns it.

    Numbers written in scientific notation that YAML read as strings (``3e-2``) are converted."""
    coerce_numbers(cfg)
    _check_types(cfg, DEFAULTS)
    for key in REQUIRED:
        if cfg[key] in (None, ""):
            raise ConfigError(f"config key {key!r} is required")
    for key, allowed in CHOICES.items():
        if get(cfg, key) not in allowed:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(allowed)}; got {get(cfg, key)!r}")
    for key in ("steps", "batch_size", "mu", "eval_every", "checkpoint_every", "width", "proj_dim", "prefetch"):
        if cfg[key] < 1:
            raise ConfigError(f"config key {key!r} must be >= 1, got {cfg[key]}")
    _check_ranges(cfg)
    if not 0.0 <= cfg["ema_decay"] < 1.0:
        raise ConfigError(f"config key 'ema_decay' must be in [0, 1), got {cfg['ema_decay']}")
    if not 0.0 < cfg["data_memory_fraction"] <= 1.0:
        raise ConfigError(f"config key 'data_memory_fraction' must be in (0, 1], got {cfg['data_memory_fraction']}")
    if not 0 <= cfg["search"]["trial"] < cfg["search"]["trials"]:
        raise ConfigError(f"config keys 'search.trial' ({cfg['search']['trial']}) and 'search.trials' "
                          f"({cfg['search']['trials']}) need 0 <= trial < trials")
    if cfg["fixclr"]["temperature"] <= 0:
        raise ConfigError(f"config key 'fixclr.temperature' must be > 0, got {cfg['fixclr']['temperature']}")
    for key in ("fixclr.warmup_fraction", "unlabeled_warmup_fraction"):
        if not 0.0 <= get(cfg, key) <= 1.0:
            raise ConfigError(f"config key {key!r} must be in [0, 1], got {get(cfg, key)}")
    if cfg["fixclr"]["attract"] and cfg["fixclr"]["negatives"] == "instance":
        raise ConfigError("config keys 'fixclr.attract: true' and 'fixclr.negatives: instance' do not combine "
                          "(one view per image: no positives to attract)")
    if cfg["dtype"] == "float64" and cfg["precision"] in ("bf16", "fp16"):
        raise ConfigError(f"config keys 'dtype: float64' and 'precision: {cfg['precision']}' do not combine "
                          "(float64 is for exactness checks: use precision auto or fp32)")
    _check_backbone(cfg["backbone"])
    if cfg["method"] not in method_names():
        raise ConfigError(f"config key 'method': unknown SSL method {cfg['method']!r}; known: {', '.join(method_names())}")
    return cfg


def _check_backbone(name: str) -> None:
    """A built-in backbone, or ``timm:<model>`` of a model timm knows (only that case imports torch and timm)."""
    if name not in BUILTIN_BACKBONES and not name.startswith(TIMM_PREFIX):
        raise ConfigError(f"config key 'backbone' must be one of {', '.join(BUILTIN_BACKBONES)}, {TIMM_PREFIX}<model>; "
                          f"got {name!r}")
    if name.startswith(TIMM_PREFIX):
        from fixclr.models.timm_backbones import check_timm_backbone
        from fixclr.models.weights import WeightsError

        try:
            check_timm_backbone(name)
        except WeightsError as error:
            raise ConfigError(f"config key 'backbone': {error}") from None


def method_names() -> list[str]:
    """The SSL methods' names, known without importing them (that imports torch: the workflow and
    ``fixclr status`` stay torch-free): one module per method in fixclr/methods, named as the method
    registers itself in METHODS (tests/train/test_config.py checks that they agree)."""
    import pkgutil

    folder = Path(__file__).resolve().parent / "methods"
    return sorted(module.name for module in pkgutil.iter_modules([str(folder)]) if module.name != "base")


def resolve(file_cfg: dict | None = None, overrides: list[str] | tuple[str, ...] = (), where: str = "config") -> dict:
    """Defaults < ``file_cfg`` < ``key=value`` overrides, validated."""
    cfg = copy.deepcopy(DEFAULTS)
    _merge(cfg, file_cfg or {}, where)
    for text in overrides:
        _merge(cfg, _parse_override(text), f"command-line override {text!r}")
    return validate(cfg)


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Resolved config from a file (plain or fold.yaml) and command-line overrides."""
    return resolve(read_config_file(path), overrides, where=str(path))


def config_hash(cfg: dict) -> str:
    """sha256 of the settings that determine the computation (``RUNTIME_KEYS`` left out)."""
    core = {k: v for k, v in cfg.items() if k not in RUNTIME_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def to_yaml(cfg: dict) -> str:
    """The resolved config as YAML text (keys in definition order)."""
    return yaml.safe_dump(cfg, sort_keys=False)
