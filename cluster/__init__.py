"""Submitit launcher for LODO folds (SLURM or local processes) and the dev SLURM cluster."""
