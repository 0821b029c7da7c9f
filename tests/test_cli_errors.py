"""Every bad input a user can give ends in one line ``fixclr COMMAND: error: ...`` naming the file or
key, exit status 2 and no traceback (issue 11, items 5 and 6), a bad command line too (issue 15),
through the real command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from fixclr.cli import main as fixclr

REPO = Path(__file__).resolve().parents[1]
TINY_SWEEP = REPO / ".test" / "config" / "config.yaml"
TRAIN = {"steps": 2, "batch_size": 6, "mu": 1, "eval_every": 2, "checkpoint_every": 1, "threads": 1, "width": 4,
         "proj_dim": 8, "eval_batch_size": 512, "device": "cpu"}


@pytest.fixture
def fold(prepared_demo, tmp_path):
    """A fold config file on a private copy of the demo's manifest and split (free to damage)."""
    data = tmp_path / "data"
    shutil.copytree(prepared_demo.shards_dir, data)
    shutil.copy(prepared_demo.split, data / "split.json")
    config = tmp_path / "fold.yaml"
    config.write_text(yaml.safe_dump({"manifest": str(data / "manifest.json"), "split": str(data / "split.json"),
                                      "target_domain": "mono", "out_dir": str(tmp_path / "run"), **TRAIN}))
    return config


def edit_split(fold: Path, change) -> Path:
    path = Path(yaml.safe_load(fold.read_text())["split"])
    split = json.loads(path.read_text())
    change(split["domains"]["color"], split)
    path.write_text(json.dumps(split))
    return path


def write_sweep(tmp_path: Path, **changes) -> Path:
    """The tiny sweep with results under tmp_path and some keys replaced (dotted: a.b=...)."""
    config = yaml.safe_load(TINY_SWEEP.read_text())
    config["results_dir"] = str(tmp_path / "results")
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def bad_checkpoint(content: bytes):
    def make(fold: Path, tmp_path: Path) -> list[str]:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "checkpoint.pt").write_bytes(content)
        return ["train", "--config", str(fold)]

    return make


def corrupt_shard(fold: Path, tmp_path: Path) -> list[str]:
    shard = tmp_path / "data" / "color-000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    shard.write_bytes(bytes(data))
    return ["train", "--config", str(fold)]


def split_case(change):
    def make(fold: Path, tmp_path: Path) -> list[str]:
        edit_split(fold, change)
        return ["train", "--config", str(fold)]

    return make


def sweep_case(**changes):
    def make(fold: Path, tmp_path: Path) -> list[str]:
        return ["status", "--sweep", str(write_sweep(tmp_path, **changes))]

    return make


def override(text: str):
    return lambda fold, tmp_path: ["train", "--config", str(fold), text]


def prep_with_domain_named_manifest(fold: Path, tmp_path: Path) -> list[str]:
    from PIL import Image

    root = tmp_path / "root"
    for domain in ("manifest", "other"):
        (root / domain / "x").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / domain / "x" / "0.png")
    return ["prep", "--root", str(root), "--dataset", "x", "--out", str(tmp_path / "out"), "--no-progress",
            "--workers", "1"]


def other_root_sweep(fold: Path, tmp_path: Path) -> list[str]:
    root = tmp_path / "images"
    for domain in ("a", "b"):
        for cls in ("x", "y"):
            (root / domain / cls).mkdir(parents=True)
            for n in range(12):
                (root / domain / cls / f"{n}.png").write_bytes(b"")
    sweep = write_sweep(tmp_path, datasets={"toy": {"root": str(root), "domains": ["a", "b"], "image_size": [8, 8]}},
                        sweep__labels_per_class=[12])
    return ["status", "--sweep", str(sweep)]


# (command line maker, text the one line must contain: the file or key it names)
CASES = {
    "lr-negative": (override("lr=-1"), "'lr' must be >= 0"),
    "threads-negative": (override("threads=-1"), "'threads' must be >= 0"),
    "threshold-above-1": (override("threshold=2"), "'threshold' must be in [0.0, 1.0]"),
    "lambda-negative": (override("fixclr.lambda=-1"), "'fixclr.lambda' must be >= 0"),
    "temperature-zero": (override("fixclr.temperature=0"), "'fixclr.temperature' must be > 0"),
    "lr-not-a-number": (override("lr=fast"), "'lr' must be a number"),
    "split-too-many-labels": (split_case(lambda d, s: d["labeled"].append(d["unlabeled"].pop())), "split.json"),
    "split-float-index": (split_case(lambda d, s: d["labeled"].__setitem__(0, d["labeled"][0] + 0.5)), "split.json"),
    "split-string-index": (split_case(lambda d, s: d["labeled"].__setitem__(0, str(d["labeled"][0]))), "split.json"),
    "split-dropped-label": (split_case(lambda d, s: d["labeled"].pop()), "split.json"),
    "split-index-out-of-range": (split_case(lambda d, s: d["unlabeled"].__setitem__(0, 10**6)), "split.json"),
    "split-domain-missing": (split_case(lambda d, s: s["domains"].pop("photo")), "split.json"),
    "split-parts-overlap": (split_case(lambda d, s: d["val"].append(d["labeled"][0])), "split.json"),
    "checkpoint-empty": (bad_checkpoint(b""), "checkpoint.pt is empty, truncated"),
    "checkpoint-truncated": (bad_checkpoint(b"PK\x03\x04" + b"\0" * 100), "checkpoint.pt is empty, truncated"),
    "shard-corrupt-same-size": (corrupt_shard, "color-000.h5 of domain color is corrupt"),
    "sweep-label-budget-before-demo-exists": (sweep_case(sweep__labels_per_class=[1000]), "sweep.labels_per_class: 1000"),
    "sweep-label-budget-counted-in-root": (other_root_sweep, "sweep.labels_per_class: 12"),
    "sweep-image-size-not-square": (
        sweep_case(datasets={"digits-dg-mini": {"demo": True, "image_size": [32, 24]}}), "image_size: training expects square"),
    "sweep-lr-negative": (sweep_case(train__lr=-0.1), "'lr' must be >= 0"),
    "sweep-threshold-above-1": (sweep_case(train__threshold=1.5), "'threshold'"),
    "sweep-unknown-key": (sweep_case(train__learning_rate=0.1), "'learning_rate'"),
    "sweep-missing-file": (lambda fold, tmp_path: ["status", "--sweep", str(tmp_path / "nope.yaml")], "nope.yaml"),
    "prep-domain-named-manifest": (prep_with_domain_named_manifest, "manifest.json"),
    "prep-missing-root": (lambda fold, tmp_path: ["prep", "--root", str(tmp_path / "nowhere"), "--dataset", "x",
                                                  "--out", str(tmp_path / "out")], "nowhere does not exist"),
    "manifest-no-records": (lambda fold, tmp_path: ["manifest", "--out", str(tmp_path / "run")], "/run does not exist"),
    "splits-missing-manifest": (lambda fold, tmp_path: ["splits", "--manifest", str(tmp_path / "m.json"), "--seed", "0",
                                                        "--labels-per-class", "5", "--out", str(tmp_path / "s.json")],
                                "m.json"),
    "submit-missing-fold-yaml": (lambda fold, tmp_path: ["submit", str(tmp_path / "fold-nope.yaml")], "fold-nope.yaml"),
    "results-missing-tables": (lambda fold, tmp_path: ["results", "--tables", str(tmp_path / "tables")], "summary.parquet"),
    "report-missing-tables": (lambda fold, tmp_path: ["report", "--tables", str(tmp_path / "tables")], "summary.parquet"),
    "option-missing": (lambda fold, tmp_path: ["train"], "the following arguments are required: --config"),
    "option-not-an-int": (lambda fold, tmp_path: ["splits", "--manifest", "m.json", "--seed", "zero",
                                                  "--labels-per-class", "5", "--out", "s.json"],
                          "argument --seed: invalid int value: 'zero' (see 'fixclr splits --help')"),
    "option-conflict": (lambda fold, tmp_path: ["submit", str(fold), "--wait", "--watch"], "give --wait or --watch"),
    "demo-data-unknown-style": (lambda fold, tmp_path: ["demo-data", "--out", str(tmp_path / "d"), "--domains", "sepia"],
                                "sepia"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_it_with_exit_status_2(case, fold, tmp_path, capsys):
    make, named = CASES[case]
    argv = make(fold, tmp_path)
    capsys.readouterr()
    status = fixclr(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("prep ", "prep:"))]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"fixclr {argv[0]}: error: "), err
    assert named in lines[0] and "Traceback" not in err


def test_scientific_notation_is_a_number_in_files_overrides_and_sweeps(fold, tmp_path):
    from fixclr import config
    from fixclr.sweep import load_sweep

    fold.write_text(fold.read_text() + "lr: 3e-2\nweight_decay: 5e-4\n")
    assert "lr: 3e-2" in fold.read_text() and isinstance(yaml.safe_load(fold.read_text())["lr"], str)  # YAML 1.1
    cfg = config.load(fold, ["momentum=9e-1", "steps=1e1", "fixclr.lambda=1e-1"])
    assert (cfg["lr"], cfg["weight_decay"], cfg["momentum"], cfg["steps"]) == (0.03, 5e-4, 0.9, 10)
    assert cfg["fixclr"]["lambda"] == 0.1 and isinstance(cfg["steps"], int)
    assert config.load(fold, ["lr=1e6"])["lr"] == 1e6
    sweep = load_sweep(yaml.safe_load(write_sweep(tmp_path, train__lr="3e-2", data__val_fraction="1e-1",
                                                  launch__mem_gb="2e0").read_text()))
    assert (sweep["train"]["lr"], sweep["data"]["val_fraction"], sweep["launch"]["mem_gb"]) == (0.03, 0.1, 2)


def test_corrupt_shard_is_re_ingested_by_the_advised_prep(prepared_demo, tmp_path, capsys):
    from fixclr.data import verify_manifest

    shards = tmp_path / "shards"
    shutil.copytree(prepared_demo.shards_dir, shards)
    shard = shards / "photo-000.h5"
    good = shard.read_bytes()
    shard.write_bytes(good[:-4096] + bytes(4096))  # same size, other bytes
    prep = ["prep", "--root", str(prepared_demo.root), "--dataset", "digits-dg-mini", "--out", str(shards),
            "--image-size", "32", "--workers", "1", "--no-progress"]
    assert fixclr([*prep, "--domain", "photo"]) == 0
    assert "differs from its record (sha256): re-ingesting" in capsys.readouterr().err
    assert shard.read_bytes() == good  # ingest is deterministic: the manifest and splits stay valid
    verify_manifest(shards / "manifest.json")
    assert fixclr([*prep, "--domain", "photo", "--force"]) == 0 and shard.read_bytes() == good


def test_non_regular_files_are_skipped_with_a_notice(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "root"
    for domain in ("a", "b"):
        (root / domain / "x").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / domain / "x" / "0.png")
    os.mkfifo(root / "a" / "x" / "fifo.png")  # would block decoding forever
    (root / "a" / "x" / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "b" / "x" / "loop.png").symlink_to(root / "b" / "x" / "loop.png")
    status = fixclr(["prep", "--root", str(root), "--dataset", "x", "--out", str(tmp_path / "out"), "--image-size", "8",
                     "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "skipping 3 entries that are not regular files: a/x/dangling.png (dangling or looping symbolic link), " \
           "a/x/fifo.png (FIFO), b/x/loop.png (dangling or looping symbolic link)" in err
    assert json.loads((tmp_path / "out" / "a.json").read_text())["count"] == 1


def test_unreadable_class_folder_is_one_line(tmp_path):
    """Root reads any folder: when root, run without the capabilities that bypass permissions
    (setpriv), staying root so the checkout stays readable wherever it lies (a 0700 clone)."""
    as_user = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root reads any folder and setpriv is missing")
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    base = Path(tempfile.mkdtemp(prefix="fixclr-unreadable-"))  # not under pytest's root-only tmp folder
    try:
        base.chmod(0o777)
        (base / "root" / "a" / "x").mkdir(parents=True)
        for folder in (base / "root", base / "root" / "a"):
            folder.chmod(0o755)
        (base / "root" / "a" / "x").chmod(0)
        run = subprocess.run([*as_user, sys.executable, "-m", "fixclr.cli", "prep", "--root", str(base / "root"),
                              "--dataset", "x", "--out", str(base / "out")], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=base)
    finally:
        (base / "root" / "a" / "x").chmod(0o755)
        shutil.rmtree(base)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip() == (f"fixclr prep: error: cannot list folder {base / 'root' / 'a' / 'x'} (Permission "
                                  "denied); check its permissions, or remove it from the dataset root")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted at tmp_path/disk (needs root and a kernel that allows it, else skip)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """The console script in a fresh process: a crash at interpreter exit shows in its status."""
    return subprocess.run([sys.executable, "-m", "fixclr.cli", *argv], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_disk_full_during_prep_is_one_line_and_leaves_nothing(small_disk, prepared_demo):
    out = small_disk / "shards"
    run = run_cli("prep", "--root", str(prepared_demo.root), "--dataset", "digits-dg-mini", "--out", str(out),
                  "--image-size", "32", "--workers", "1", "--no-progress", "--domain", "mono", "--domain", "color")
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if "error" in line or "no space" in line]
    assert errors and errors[0].startswith("fixclr prep: error: no space left on device") and str(out) in errors[0]
    assert "Traceback" not in run.stderr
    # every domain either complete with its record or absent, and no temporary left
    names = sorted(p.name for p in out.iterdir())
    for domain in ("mono", "color"):
        shards = [n for n in names if n.startswith(f"{domain}-")]
        assert (f"{domain}.json" in names) == bool(shards), names
    assert not [n for n in names if n.endswith(".tmp")]


def test_disk_full_during_training_is_one_line_naming_the_file(small_disk, fold):
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))  # leave 64 KiB
    run = run_cli("train", "--config", str(fold), f"out_dir={small_disk / 'run'}", "width=16", "proj_dim=64")
    assert run.returncode == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("fixclr train: error: No space left on device, ") and str(small_disk / "run") in last
    assert "Traceback" not in run.stderr
    assert not (small_disk / "run" / "done").exists()
    assert not [p.name for p in (small_disk / "run").iterdir() if p.name.endswith(".tmp")]


def test_python_m_entry_points_take_the_same_path():
    run = subprocess.run([sys.executable, "-m", "cluster.poller"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 2 and run.stderr.strip() == (
        "python -m cluster.poller: error: the following arguments are required: folder "
        "(see 'python -m cluster.poller --help')")


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    import fixclr.cli

    monkeypatch.setitem(fixclr.cli.COMMANDS, "demo-data", ("json:loads", "a command with a bug"))
    with pytest.raises(TypeError):  # json.loads(list): not the user's to fix
        fixclr(["demo-data", "x"])
