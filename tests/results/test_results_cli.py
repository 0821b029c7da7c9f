"""`fixclr results` (paper tables in three formats, filters, --sql, missing folds) and `fixclr report`."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
import yaml
from matplotlib import image
from result_files import DOMAINS, write_fold

from fixclr.results.aggregate import write_tables
from fixclr.cli import main as fixclr
from fixclr.results.cli import aggregate_main, report_main, results_main
from fixclr.results.tables import format_table, paper_tables

TINY_SWEEP = {
    "datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32]}},
    "sweep": {"variants": [{"method": "erm"}, {"method": "fixmatch"}, {"method": "fixmatch", "regularizer": "fixclr"}],
              "seeds": [0, 1]},
}
BASE = {"erm": 40.0, "fixmatch": 70.0, "fixmatch+fixclr": 72.0}


@pytest.fixture
def half_done(runs, monkeypatch):
    """The TINY_SWEEP in tmp_path/results with every fold finished except fixmatch/photo/s1."""
    monkeypatch.chdir(runs.parent.parent)
    for variant, base in BASE.items():
        for target in DOMAINS:
            for seed in (0, 1):
                if (variant, target, seed) != ("fixmatch", "photo", 1):
                    write_fold(runs, variant, target, seed, base + 2 * seed)
    (runs.parent.parent / "sweep.yaml").write_text(yaml.safe_dump(TINY_SWEEP))
    assert aggregate_main(["--runs", "results/runs", "--out", "results/tables"]) == 0
    return runs


def test_results_prints_the_table_and_the_missing_fold(half_done, capsys):
    assert results_main(["--sweep", "sweep.yaml"]) == 0
    out = capsys.readouterr().out
    assert "digits-dg-mini, cnn, 10 labels per class, target accuracy (%), selection: last" in out
    assert "| method | color | mono | photo | rotated | Avg |" in out
    assert "| erm | 41.0 ± 1.4 | 41.0 ± 1.4 | 41.0 ± 1.4 | 41.0 ± 1.4 | 41.0 ± 1.4 |" in out
    assert "| fixmatch | 71.0 ± 1.4 | 71.0 ± 1.4 | 70.0 (n=1) | 71.0 ± 1.4 | 70.0 (n=1) |" in out
    assert "| fixmatch+fixclr | 73.0 ± 1.4 |" in out
    assert "missing folds (1 of 24):\n  digits-dg-mini/cnn/fixmatch/photo/n10/s1" in out


def test_results_selection_and_formats(half_done, capsys):
    assert results_main(["--sweep", "sweep.yaml", "--selection", "oracle", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(io.StringIO(out.split("\n\n", 1)[1].split("\n\n")[0]), index_col="method")
    assert list(table.columns) == ["color", "mono", "photo", "rotated", "Avg"]
    assert table.loc["erm", "mono"] == "41.0 ± 1.4"  # the last step of the only trial (one trial: = last)
    assert results_main(["--sweep", "sweep.yaml", "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert r"\begin{tabular}{lrrrrr}" in latex and r"erm & 41.0 $\pm$ 1.4 &" in latex
    assert r"fixmatch+fixclr & 73.0 $\pm$ 1.4" in latex and r"\end{tabular}" in latex


def test_results_filters(half_done, capsys):
    assert results_main(["--sweep", "sweep.yaml", "--labels", "5"]) == 0
    captured = capsys.readouterr()
    assert "no finished folds match" in captured.err and "| method |" not in captured.out


def test_results_sql_answers_from_the_parquet_tables(half_done, capsys):
    sql = "SELECT ssl_method, regularizer, avg(acc_last) AS acc FROM folds GROUP BY ALL ORDER BY acc"
    assert results_main(["--sweep", "sweep.yaml", "--sql", sql, "--format", "csv"]) == 0
    answer = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(answer["ssl_method"]) == ["erm", "fixmatch", "fixmatch"]
    assert list(answer["regularizer"]) == ["none", "none", "fixclr"]
    assert answer["acc"].tolist() == pytest.approx([41.0, 70 + 2 * 3 / 7, 73.0])
    assert results_main(["--sweep", "sweep.yaml", "--sql", "SELECT count(*) AS n FROM summary WHERE target_domain = 'avg' AND metric = 'top1'"]) == 0
    assert capsys.readouterr().out.split() == ["n", "3"]


def test_results_of_a_sweep_rebuild_its_tables_from_the_run_folders(half_done, capsys):
    shutil.rmtree("results/tables")
    write_fold(half_done, "fixmatch", "photo", 1, 90.0)  # the missing fold finishes
    assert results_main(["--sweep", "sweep.yaml"]) == 0
    out = capsys.readouterr().out
    assert "| fixmatch | 71.0 ± 1.4 | 71.0 ± 1.4 | 80.0 ± 14.1 | 71.0 ± 1.4 | 73.2 ± 4.6 |" in out
    assert "missing" not in out
    assert len(pd.read_parquet("results/tables/folds.parquet")) == 24


def test_results_errors_are_one_line(half_done, capsys):
    assert fixclr(["results", "--sweep", "sweep.yaml", "--sql", "SELECT nope FROM folds"]) == 2
    assert "fixclr results: error: SQL error in --sql:" in capsys.readouterr().err
    shutil.rmtree("results/tables")
    assert fixclr(["results", "--tables", "results/tables"]) == 2
    assert "results/tables/summary.parquet does not exist: run `fixclr aggregate`" in capsys.readouterr().err


def test_report_writes_markdown_and_a_bar_chart(half_done):
    assert report_main(["--sweep", "sweep.yaml"]) == 0
    markdown = open("results/report/summary.md").read()
    assert "23 finished folds" in markdown
    for selection in ("last", "val", "oracle"):
        assert f"selection: {selection}" in markdown
    assert "## Missing folds (1)\n\n- digits-dg-mini/cnn/fixmatch/photo/n10/s1" in markdown
    picture = image.imread("results/report/summary.png")
    assert picture.shape[0] > 300 and picture.shape[1] > 800


def test_variants_sit_next_to_their_regularized_form(runs):
    for variant in ("fixmatch+fixclr", "erm", "flexmatch+fixclr", "fixmatch", "flexmatch"):
        write_fold(runs, variant, "mono", 0, 50.0)
    summary_path = write_tables(runs, runs.parent / "tables")[1]
    (table,) = paper_tables(pd.read_parquet(summary_path)).values()
    assert list(table.index) == ["erm", "fixmatch", "fixmatch+fixclr", "flexmatch", "flexmatch+fixclr"]
    with pytest.raises(ValueError, match="unknown format 'html'"):
        format_table(table, "html")


def test_a_variant_run_with_two_settings_gets_two_rows(runs, tmp_path):
    write_fold(runs, "fixmatch+fixclr", "mono", 0, 60.0)
    write_fold(runs, "fixmatch+fixclr", "mono", 1, 70.0, regularizer_settings={"lambda": 0.1, "temperature": 0.5})
    write_fold(runs, "fixmatch", "mono", 0, 50.0)
    summary_path = write_tables(runs, tmp_path / "tables")[1]
    (table,) = paper_tables(pd.read_parquet(summary_path)).values()
    assert table["mono"].to_dict() == {"fixmatch": "50.0", "fixmatch+fixclr (temperature=0.2)": "60.0",
                                       "fixmatch+fixclr (temperature=0.5)": "70.0"}
    assert report_main(["--tables", str(tmp_path / "tables")]) == 0
    assert "| fixmatch+fixclr (temperature=0.5) | 70.0 | 70.0 |" in (tmp_path / "report" / "summary.md").read_text()
