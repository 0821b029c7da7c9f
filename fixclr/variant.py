"""A variant's name: ``<method>[+<regularizer>][-<tag>]``, its run folder under
``runs/<dataset>/<backbone>/`` and its row in every table.

It is decided once, when a sweep is planned: fixclr.sweep names the folder with it and writes it into
the fold's ``fold.yaml`` as ``train.variant`` (a runtime key: it leaves the config hash alone); the
trainer copies it into ``result.json``, and aggregation reads it from there, never from the folder.
"""

from __future__ import annotations

from collections.abc import Mapping

# result.json's format. 2: ``variant`` is the planned name, tag included (format 1, without the
# key, had the name without the sweep's tag; fixclr.results.aggregate reads its folder instead).
RESULT_FORMAT = 2


def variant_name(settings: Mapping) -> str:
    """The name of a sweep's variant entry, or of a fold config: ``method``, ``regularizer`` (default
    none) and, for a sweep's ablation entry, ``tag``."""
    name = settings["method"]
    if settings.get("regularizer", "none") != "none":
        name += f"+{settings['regularizer']}"
    if settings.get("tag") is not None:
        name += f"-{settings['tag']}"
    return name


def fold_variant(cfg: Mapping) -> str:
    """A fold's variant: the planned ``variant`` of its config, else (a fold config written by hand)
    the name of its method and regularizer."""
    return cfg.get("variant") or variant_name(cfg)
