"""SSL methods, one small module each; importing this package registers them all in ``METHODS``."""

import importlib
import pkgutil

from fixclr.methods.base import METHODS, PseudoLabels, SSLMethod

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "PseudoLabels", "SSLMethod"]
