"""The underfitting warning on hand-made evaluation records: known values -> exactly the folds named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from result_files import write_fold

from fixclr.results.cli import aggregate_main, report_main, results_main
from fixclr.results.underfit import fold_signs, runs_underfit_signs, warning_lines


def _records(target: list[float], val: list[float], mask: list[float | None], every: int = 100) -> list[dict]:
    return [{"step": every * (i + 1), "target_acc": t, "val_acc_mean": v, "mask_rate": m}
            for i, (t, v, m) in enumerate(zip(target, val, mask))]


def _write_records(run_dir: Path, records: list[dict]) -> None:
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_rising_is_the_last_evaluation_above_the_best_of_the_second_half_by_more_than_2_points():
    # steps 100..800; second half before the last: steps 400..700, best target 50.0
    target = [10.0, 30.0, 45.0, 50.0, 48.0, 49.0, 47.0]
    assert fold_signs(_records(target + [52.0], [60.0] * 8, [None] * 8), "f") == []  # +2.0: not more than 2
    signs = fold_signs(_records(target + [52.5], [60.0] * 8, [None] * 8), "f")
    assert [(s.reason, s.fold) for s in signs] == [("rising", "f")]
    assert "target accuracy still rising: 52.5 % at step 800 against at best 50.0 % from step 400" in signs[0].text()
    early_peak = [10.0, 80.0, 20.0, 30.0, 30.0, 30.0, 30.0, 33.0]  # step 200's 80 is in the first half
    assert fold_signs(_records([40.0] * 8, early_peak, [None] * 8), "f")[0].detail.startswith(
        "source-validation accuracy still rising: 33.0 %")


def test_mask_rate_is_checked_for_ssl_folds_only_and_single_evaluations_for_it_alone():
    assert fold_signs(_records([50.0, 50.0], [60.0, 60.0], [0.1, 0.29]), "ssl")[0].reason == "mask_rate"
    assert fold_signs(_records([50.0, 50.0], [60.0, 60.0], [0.1, 0.3]), "ssl") == []
    assert fold_signs(_records([50.0, 50.0], [60.0, 60.0], [None, None]), "erm") == []
    assert [s.reason for s in fold_signs(_records([90.0], [90.0], [0.05]), "one")] == ["mask_rate"]
    assert fold_signs([], "empty") == []


@pytest.fixture
def sweep_with_records(runs, monkeypatch):
    """Four finished folds with known records (two underfit) and one unfinished, as a sweep."""
    monkeypatch.chdir(runs.parent.parent)
    cases = {
        ("erm", "mono"): _records([40.0, 41.0, 41.5, 41.0], [70.0, 71.0, 71.0, 71.5], [None] * 4),  # flat
        ("erm", "photo"): _records([40.0, 41.0, 41.5, 45.0], [70.0, 71.0, 71.0, 71.5], [None] * 4),  # target rising
        ("fixmatch", "mono"): _records([50.0, 60.0, 61.0, 61.0], [80.0, 80.0, 81.0, 81.0], [0.3, 0.5, 0.6, 0.7]),
        ("fixmatch", "photo"): _records([50.0, 60.0, 61.0, 61.0], [80.0, 80.0, 81.0, 81.0], [0.0, 0.05, 0.1, 0.16]),
    }
    for (variant, target), records in cases.items():
        _write_records(write_fold(runs, variant, target, 0, records[-1]["target_acc"]), records)
    _write_records(write_fold(runs, "fixmatch", "color", 0, 10.0, done=False), _records([10.0, 90.0], [10.0, 90.0], [0.0, 0.0]))
    sweep = {"datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32]}},
             "sweep": {"variants": [{"method": "erm"}, {"method": "fixmatch"}], "seeds": [0]}}
    (runs.parent.parent / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    assert aggregate_main(["--runs", "results/runs", "--out", "results/tables"]) == 0
    return runs


def test_the_warning_names_exactly_the_underfit_finished_folds(sweep_with_records):
    signs = runs_underfit_signs(sweep_with_records)
    assert [(s.fold, s.reason) for s in signs] == [("digits-dg-mini/cnn/erm/photo/n10/s0", "rising"),
                                                   ("digits-dg-mini/cnn/fixmatch/photo/n10/s0", "mask_rate")]
    lines = warning_lines(signs, 4)
    assert lines[0].startswith("warning: 2 of 4 finished folds look underfit (train longer")
    assert lines[1] == ("  digits-dg-mini/cnn/erm/photo/n10/s0: target accuracy still rising: 45.0 % at step 400 "
                        "against at best 41.5 % from step 200")
    assert lines[2].startswith("  digits-dg-mini/cnn/fixmatch/photo/n10/s0: final mask rate 0.16 < 0.3")
    assert warning_lines([], 4) == []


def test_results_and_report_show_the_warning(sweep_with_records, capsys):
    assert results_main(["--sweep", "sweep.yaml"]) == 0
    out = capsys.readouterr().out
    assert "warning: 2 of 4 finished folds look underfit" in out
    assert "digits-dg-mini/cnn/erm/photo/n10/s0: target accuracy still rising" in out
    assert "digits-dg-mini/cnn/erm/mono/n10/s0" not in out.split("warning:")[1]
    assert report_main(["--sweep", "sweep.yaml"]) == 0
    markdown = Path("results/report/summary.md").read_text()
    assert "## Underfitting\n\nwarning: 2 of 4 finished folds" in markdown
    assert "- digits-dg-mini/cnn/fixmatch/photo/n10/s0: final mask rate 0.16" in markdown


def test_the_results_page_shows_the_warning(sweep_with_records):
    assert report_main(["--sweep", "sweep.yaml"]) == 0
    spec = Path(__file__).resolve().parents[2] / "config" / "results_page.yaml"
    assert report_main(["--page", "docs/page.md", "--spec", str(spec), "--results", "grid=results"]) == 0
    page = Path("docs/page.md").read_text()
    assert "## Underfitting warning\n\n**grid** warning: 2 of 4 finished folds look underfit" in page
    assert "- digits-dg-mini/cnn/erm/photo/n10/s0: target accuracy still rising" in page


def test_a_deliberately_short_real_fold_is_flagged(prepared_demo, tmp_path, monkeypatch, capsys):
    """30 steps of FixMatch on the demo: far from converged, `fixclr results` says so and names the fold."""
    from fixclr.cli import main as fixclr

    monkeypatch.chdir(tmp_path)
    run_dir = Path("results/runs/digits-dg-mini/cnn/fixmatch/mono/n10/s0")
    config = {"manifest": str(prepared_demo.manifest), "split": str(prepared_demo.split), "target_domain": "mono",
              "method": "fixmatch", "steps": 30, "eval_every": 10, "width": 8, "threads": 1}
    Path("fold.yaml").write_text(yaml.safe_dump(config))
    assert fixclr(["train", "--config", "fold.yaml", f"out_dir={run_dir}"]) == 0
    sweep = {"datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32]}}, "results_dir": "results",
             "sweep": {"variants": [{"method": "fixmatch"}], "seeds": [0]}}
    Path("sweep.yaml").write_text(yaml.safe_dump(sweep))
    capsys.readouterr()
    assert fixclr(["results", "--sweep", "sweep.yaml"]) == 0
    out = capsys.readouterr().out
    assert "warning: 1 of 1 finished folds look underfit" in out
    assert "digits-dg-mini/cnn/fixmatch/mono/n10/s0: final mask rate" in out
