"""``fixclr report --page``: docs/results.md from three sweeps' Parquet tables, laid out by
config/results_page.yaml, on hand-written result.json folders whose seed averages are chosen so that
every difference is known by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from result_files import write_fold

from fixclr.cli import main as fixclr
from fixclr.results.cli import aggregate_main, report_main
from fixclr.results.page import PairedDifference

SPEC = Path(__file__).resolve().parents[2] / "config" / "results_page.yaml"
DOMAINS4 = ["mono", "color", "photo", "rotated"]
DOMAINS6 = DOMAINS4 + ["outline", "noisy"]
TARGET_OFFSETS = {"mono": 3.0, "color": -1.0, "photo": -4.0, "rotated": 2.0, "outline": 1.0, "noisy": -1.0}
# variant -> acc_val averaged over the 4 targets, per seed 0, 1, 2
GRID = {
    "erm": [40.0, 41.0, 42.0], "erm+fixclr": [40.0, 41.0, 42.0],
    "fixmatch": [60.0, 61.0, 62.0], "fixmatch+fixclr": [63.0, 63.0, 66.0],  # d = 3, 2, 4: +3.0 ± 0.6
    "flexmatch": [60.0, 60.0, 60.0], "flexmatch+fixclr": [60.5, 59.5, 60.0],  # d = .5, -.5, 0: +0.0 ± 0.3
    "freematch": [50.0, 50.0, 50.0], "freematch+fixclr": [48.0, 47.0, 49.0],  # d = -2, -3, -1: -2.0 ± 0.6
    "softmatch": [55.0, 55.0, 55.0], "softmatch+fixclr": [57.0, 57.0, 57.0],  # d = 2, 2, 2: +2.0 ± 0.0
}
# (acc_val per seed, val_acc_last) of the ablation; its reference rows fixmatch and fixmatch+fixclr
# (val_acc_last 90.0) are the grid's
ABLATION = {"fixmatch+fixclr-lambda=0.3": ([61.0, 62.0, 63.0], 95.0)}


def _write_sweep(results_dir, averages: dict, domains: list[str], *, dataset="digits-dg-mini", commit="abc123",
                 seeds=(0, 1, 2), val_acc=None, skip=()) -> None:
    """Run folders whose acc_val averages over ``domains`` to ``averages[variant][seed]``; acc_last is
    acc_val + 1, except for fixmatch+fixclr (acc_val - 2.5); then aggregate and report them."""
    runs = results_dir / "runs"
    for variant, per_seed in averages.items():
        method, _, regularizer = variant.partition("-")[0].partition("+")
        for seed in seeds:
            for target in domains:
                if (variant, target, seed) in skip:
                    continue
                acc_val = per_seed[seed] + TARGET_OFFSETS[target] - sum(TARGET_OFFSETS[d] for d in domains) / len(domains)
                write_fold(runs, variant, target, seed, acc_val + (-2.5 if variant == "fixmatch+fixclr" else 1.0),
                           dataset=dataset, acc_val=acc_val, regularizer=regularizer or "none", ssl_method=method,
                           val_acc_last=(val_acc or {}).get(variant, 90.0), git_commit=commit,
                           wall_s=90.0 if (variant, target, seed) == ("erm", "mono", 0) else 36.0,
                           source_domains=[d for d in domains if d != target])
    assert aggregate_main(["--runs", str(runs), "--out", str(results_dir / "tables")]) == 0
    assert report_main(["--tables", str(results_dir / "tables")]) == 0


@pytest.fixture
def three_sweeps(tmp_path, monkeypatch):
    """results/{grid,ablation,many_domains} under tmp_path (the working directory), aggregated."""
    monkeypatch.chdir(tmp_path)
    _write_sweep(tmp_path / "results" / "grid", GRID, DOMAINS4)
    _write_sweep(tmp_path / "results" / "ablation", {v: a for v, (a, _) in ABLATION.items()}, DOMAINS4,
                 val_acc={v: val for v, (_, val) in ABLATION.items()})
    many = {v: GRID[v][:2] for v in ("erm", "fixmatch", "fixmatch+fixclr")}
    _write_sweep(tmp_path / "results" / "many_domains", many, DOMAINS6, dataset="digits-dg-mini6", commit="def456",
                 seeds=(0, 1), skip={("fixmatch+fixclr", "noisy", 1)})
    return tmp_path


def _page(three_sweeps, *extra) -> str:
    argv = ["--page", "docs/results.md", "--spec", str(SPEC), "--results", "grid=results/grid",
            "--results", "ablation=results/ablation", "--results", "many_domains=results/many_domains", *extra]
    assert report_main(argv) == 0
    return (three_sweeps / "docs" / "results.md").read_text()


def test_paired_difference_verdicts():
    assert PairedDifference(3.0, 0.577, 3).verdict() == "FixCLR helps beyond its standard error"
    assert PairedDifference(0.2, 0.3, 3).verdict() == "FixCLR does not help beyond its standard error"
    assert PairedDifference(-0.3, 0.3, 3).verdict() == "FixCLR does not help beyond its standard error"
    assert PairedDifference(-2.0, 0.577, 3).verdict() == "FixCLR hurts beyond its standard error"
    assert PairedDifference(5.0, float("nan"), 1).verdict() == "FixCLR's effect cannot be told (fewer than 2 paired seeds)"
    assert PairedDifference(5.0, float("nan"), 1).text() == "+5.0"


def test_main_table_fixclr_effect_and_verdicts(three_sweeps):
    page = _page(three_sweeps)
    assert "**digits-dg-mini, cnn, 10 labels per class, target accuracy (%); source-validation selection (acc_val)**" in page
    # fixmatch acc_val: per-target means 61 + offset (std 1), Avg 61.0 ± 1.0
    assert "| fixmatch | 60.0 ± 1.0 | 64.0 ± 1.0 | 57.0 ± 1.0 | 63.0 ± 1.0 | 61.0 ± 1.0 |" in page
    assert "| fixmatch | 61.0 ± 1.0 | 65.0 ± 1.0 | 58.0 ± 1.0 | 64.0 ± 1.0 | 62.0 ± 1.0 |" in page  # acc_last
    assert "| method | Δ Avg, val ± SE | Δ Avg, last ± SE | seeds | verdict |" in page
    # last: fixmatch+fixclr 60.5, 60.5, 63.5 vs fixmatch 61, 62, 63: d = -0.5, -1.5, 0.5
    assert "| fixmatch | +3.0 ± 0.6 | -0.5 ± 0.6 | 3 | FixCLR helps beyond its standard error |" in page
    assert "| flexmatch | +0.0 ± 0.3 | +0.0 ± 0.3 | 3 | FixCLR does not help beyond its standard error |" in page
    assert "| freematch | -2.0 ± 0.6 | -2.0 ± 0.6 | 3 | FixCLR hurts beyond its standard error |" in page
    assert "| softmatch | +2.0 ± 0.0 | +2.0 ± 0.0 | 3 | FixCLR helps beyond its standard error |" in page
    assert "| erm | +0.0 ± 0.0 |" in page
    assert ("- **fixmatch**: with the source-validation selection (acc_val), FixCLR helps beyond its standard "
            "error (+3.0 ± 0.6 points); with the last model (acc_last), FixCLR does not help beyond its standard "
            "error (-0.5 ± 0.6 points).") in page
    assert "- **freematch**: with the source-validation selection (acc_val), FixCLR hurts beyond" in page
    assert ("FixCLR helps beyond its standard error for 2 of 4 SSL methods (fixmatch, softmatch). The project's "
            "target (FixMatch and at least two other SSL methods) is **not met**. One standard error is a weak bar "
            "with 3 seeds: beyond two standard errors FixCLR helps for fixmatch, softmatch.") in page


def test_ablation_many_domains_provenance_and_picture(three_sweeps):
    page = _page(three_sweeps)
    assert ("one setting from the trainer's defaults (lambda 0.1, temperature 0.5, attract False, negatives class, "
            "embedding projection, views weak;") in page
    assert "| variant | target Avg, val | target Avg, last | source val (last) | Δ vs fixmatch, val ± SE |" in page
    assert "The rows fixmatch and fixmatch+fixclr are the main grid's folds." in page
    assert "| fixmatch | 61.0 ± 1.0 | 62.0 ± 1.0 | 90.0 ± 0.0 | – |" in page
    assert "| fixmatch+fixclr | 64.0 ± 1.7 | 61.5 ± 1.7 | 90.0 ± 0.0 | +3.0 ± 0.6 |" in page
    assert "| fixmatch+fixclr-lambda=0.3 | 62.0 ± 1.0 | 63.0 ± 1.0 | 95.0 ± 0.0 | +1.0 ± 0.0 |" in page
    assert "the FixCLR setting would be `fixmatch+fixclr-lambda=0.3` (95.0 % source-validation accuracy)" in page
    # many domains: fixmatch+fixclr lacks noisy/s1, so one paired seed; its table cells say (n=1)
    assert "**digits-dg-mini6, cnn, 10 labels per class, target accuracy (%); last model (acc_last)**" in page
    assert "| fixmatch | +3.0 | -0.5 | 1 | FixCLR's effect cannot be told (fewer than 2 paired seeds) |" in page
    assert page.count("The project's target") == 1  # judged on the main grid only
    assert "| variant | digits-dg-mini (4 domains) | digits-dg-mini6 (6 domains) |" in page
    assert "| fixmatch+fixclr | 64.0 ± 1.7 | 63.0 (n=1) |" in page
    assert "Commits of the folds: `abc123`, `def456`." in page
    assert ("grid: 120 folds, 1:12:54 (longest fold 90 s); ablation: 12 folds, 0:07:12 (longest fold 36 s); "
            "many_domains: 35 folds, 0:21:54 (longest fold 90 s); in all 1:42:00.") in page
    assert ("snakemake --cores 2 --configfile config/grid.yaml --config results_dir=results/grid && \\\n"
            "snakemake --cores 2 --configfile config/ablation.yaml --config results_dir=results/ablation") in page
    assert (f"fixclr report --page docs/results.md --spec {SPEC} --results grid=results/grid --results "
            "ablation=results/ablation --results many_domains=results/many_domains\n```") in page
    picture = three_sweeps / "docs" / "results.png"
    assert picture.read_bytes() == (three_sweeps / "results/grid/report/summary.png").read_bytes()
    assert "](results.png)" in page


def test_page_options_and_errors(three_sweeps, capsys):
    page = _page(three_sweeps, "--command", "make results-page")
    assert "```bash\nmake results-page\n```" in page
    page = ["report", "--page", "docs/p.md", "--spec", str(SPEC)]
    assert fixclr([*page, "--results", "grid=results/nope"]) == 2  # one line, exit status 2
    assert "results/nope/tables/folds.parquet does not exist" in capsys.readouterr().err
    assert fixclr([*page]) == 2  # by default every sweep of the spec: the search sweep has not run
    assert "results/search/tables/folds.parquet does not exist" in capsys.readouterr().err
    assert fixclr([*page, "--results", "ablation=results/ablation"]) == 2
    assert "picture.sweep" in capsys.readouterr().err
    assert fixclr([*page, "--results", "gird=results/grid"]) == 2
    assert "no sweep 'gird' (sweeps: grid, ablation, many_domains, search)" in capsys.readouterr().err
    assert fixclr(["report", "--page", "docs/p.md"]) == 2
    assert "--page needs --spec SPEC" in capsys.readouterr().err
    assert fixclr(["report", "--results", "grid=results/grid"]) == 2
    assert "go with --page" in capsys.readouterr().err
    bad = three_sweeps / "spec.yaml"
    bad.write_text(SPEC.read_text().replace("sweep: ablation", "sweep: ablations"))
    assert fixclr(["report", "--page", "docs/p.md", "--spec", str(bad)]) == 2
    assert f"{bad}: sections[2].sweep: 'ablations' is not one of sweeps: grid" in capsys.readouterr().err
    (three_sweeps / "results/grid/report/summary.png").unlink()
    assert fixclr([*page, "--results", "grid=results/grid"]) == 2
    assert "results/grid/report/summary.png does not exist" in capsys.readouterr().err


def _write_search(results_dir) -> None:
    """fixmatch and fixmatch+fixclr, 2 trials, 4 targets, 2 seeds. Source validation prefers trial 1
    of fixmatch+fixclr (its best step's target accuracy: 66 + seed) and trial 0 of fixmatch (60 + seed)."""
    from result_files import records_for

    runs = results_dir / "runs"
    preferred = {"fixmatch": 0, "fixmatch+fixclr": 1}
    for variant, best_trial in preferred.items():
        method, _, regularizer = variant.partition("+")
        for trial in (0, 1):
            hparams = {"lr": 0.03 if trial == 0 else 0.0123}
            for seed in (0, 1):
                for target in DOMAINS4:
                    acc_val = (60.0 if variant == "fixmatch" else 66.0) + seed - (trial != best_trial) * 10.0
                    records = records_for(acc_val + 1.0, acc_val)
                    records[1]["val_acc_mean"] += 1.0 if trial == best_trial else 0.0
                    write_fold(runs, variant, target, seed, acc_val + 1.0, trial=trial, trials=2, hparams=hparams,
                               records=records, acc_val=acc_val, regularizer=regularizer or "none", ssl_method=method)
    assert aggregate_main(["--runs", str(runs), "--out", str(results_dir / "tables")]) == 0


def test_page_compares_the_searched_methods_under_training_domain_validation(three_sweeps):
    _write_search(three_sweeps / "results" / "search")
    page = _page(three_sweeps, "--results", "search=results/search")
    section = page[page.index("## Every method searched with the same budget"):]
    assert "budget of 2 trials" in section and "**training-domain validation**" in section
    assert "| fixmatch | 60.5 ± 0.7 | 60.5 ± 0.7 | 60.5 ± 0.7 | 60.5 ± 0.7 | 60.5 ± 0.7 |" in section
    assert "| fixmatch+fixclr | 66.5 ± 0.7 |" in section
    # paired by seed: 66 - 60 and 67 - 61 under val; the last step of trial 0: 57 - 61 and 58 - 62
    assert "| fixmatch | +6.0 ± 0.0 | -4.0 ± 0.0 | 2 | FixCLR helps beyond its standard error |" in section
    assert "| fixmatch | t0 | 8 of 8 | lr=0.03 |" in section
    assert "| fixmatch+fixclr | t1 | 8 of 8 | lr=0.0123 |" in section
    assert "--results search=results/search" in page and "config/search.yaml" in page
    assert page.index("## Ablation") < page.index("## Every method searched") < page.index("## Many domains")


def test_a_half_finished_sweep_has_the_averages_of_summary_md(three_sweeps):
    """softmatch+fixclr has no fold of target rotated yet: the page's paired difference uses the seed
    averages summary.md's Avg column shows (fixclr.results.aggregate.seed_averages, over the targets
    the variant has), where the page used to leave the method out (its own rule: every target of the
    dataset)."""
    _write_sweep(three_sweeps / "results" / "half", GRID, DOMAINS4,
                 skip={("softmatch+fixclr", "rotated", seed) for seed in (0, 1, 2)})
    summary = (three_sweeps / "results" / "half" / "report" / "summary.md").read_text()
    assert "| softmatch+fixclr | 56.0 ± 0.0 | 60.0 ± 0.0 | 53.0 ± 0.0 | – | 56.3 ± 0.0 |" in summary  # acc_val
    assert "| softmatch | 54.0 ± 0.0 | 58.0 ± 0.0 | 51.0 ± 0.0 | 57.0 ± 0.0 | 55.0 ± 0.0 |" in summary
    assert report_main(["--page", "docs/half.md", "--spec", str(SPEC), "--results", "grid=results/half"]) == 0
    page = (three_sweeps / "docs" / "half.md").read_text()
    assert "| softmatch+fixclr | 56.0 ± 0.0 | 60.0 ± 0.0 | 53.0 ± 0.0 | – | 56.3 ± 0.0 |" in page
    assert "| softmatch | +1.3 ± 0.0 | +1.3 ± 0.0 | 3 | FixCLR helps beyond its standard error |" in page  # 56.3 - 55
    assert "## Ablation" not in page and "## Many domains" not in page  # sweeps not on the page
