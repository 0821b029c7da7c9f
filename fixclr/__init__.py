"""fixclr: FixCLR and semi-supervised domain generalization as an HPC batch pipeline."""

__version__ = "0.1.0"
