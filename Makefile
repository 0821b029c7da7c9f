# Entry points of the README's Quick start. Each target does its own set-up on a fresh machine.
VENV    ?= .venv
PYTHON  ?= python3
CORES   ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)

STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv demo test test-fast cluster-up cluster-down lint results-page

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# A CUDA build that also runs on CPU; on a conda cluster use environment.yml instead.
	$(VENV)/bin/pip install -q torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

## The whole demo pipeline (default config, local processes), then the paper-style table.
demo: venv
	snakemake --cores $(CORES)
	fixclr results

## The experiment grid, ablation and many-domains sweeps (hours on 2 cores), then docs/results.md.
results-page: venv
	snakemake --cores $(CORES) --configfile config/grid.yaml --config results_dir=results/grid
	snakemake --cores $(CORES) --configfile config/ablation.yaml --config results_dir=results/ablation
	snakemake --cores $(CORES) --configfile config/many_domains.yaml --config results_dir=results/many_domains
	snakemake --cores $(CORES) --configfile config/search.yaml --config results_dir=results/search
	fixclr report --page docs/results.md --spec config/results_page.yaml --command "make results-page"

## Every test, with the dev SLURM cluster started first (installs its Debian packages as root).
test: venv cluster-up
	python -m pytest -q

## Unit and local tests only (no SLURM).
test-fast: venv
	python -m pytest -q -m "not cluster"

cluster-up:
	cluster/dev/install
	cluster/dev/start

cluster-down:
	cluster/dev/stop

lint: venv
	snakemake --lint
	snakefmt --check Snakefile fixclr/workflow
