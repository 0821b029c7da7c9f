"""Stream mode: batches read from the shards equal memory mode's, auto's choice, sharded evaluation reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from data_prep.cli import splits_main
from data_prep.manifest import write_manifest
from fixclr.config import DEFAULTS, resolve
from fixclr.data import DomainImages, hdf5
from fixclr.data.loader import StepSampler, load_fold
from fixclr.data import stream as stream_module
from fixclr.data.stream import MemoryBatches, StreamBatches, fold_image_bytes, memory_budgets, mode_for
from fixclr.train import run_fold

TINY = {"steps": 4, "batch_size": 12, "mu": 1, "eval_every": 2, "checkpoint_every": 4, "threads": 1, "width": 8,
        "proj_dim": 16, "eval_batch_size": 100, "regularizer": "fixclr"}


@pytest.fixture
def fold_cfg(prepared_demo, tmp_path) -> dict:
    return {"manifest": str(prepared_demo.manifest), "split": str(prepared_demo.split), "target_domain": "mono",
            "out_dir": str(tmp_path / "run"), **TINY}


@pytest.mark.parametrize("compression", ["none", "lzf"])  # raw: os.preadv at chunk offsets; lzf: h5py runs
def test_read_rows_returns_requested_rows_in_request_order(prepared_demo, prep, tmp_path, compression, monkeypatch):
    assert prep(prepared_demo.root, tmp_path, "--image-size", "32", "--shard-max-mb", "1",
                "--compression", compression)[0] == 0
    write_manifest(tmp_path)
    images = DomainImages(tmp_path / "manifest.json", "color")
    assert len(images.files) > 1 and (images._direct(0) is not None) == (compression == "none")
    every, _ = images.read_all()
    rows = [5, 3, 4, 6, 100, 0, 3, 7, len(images) - 1, 1, 400, *range(200, 211)]  # runs, a duplicate, out of order, 2 shards
    np.testing.assert_array_equal(images.read_rows(rows), every[rows])
    assert images.read_rows([]).shape == (0, 32, 32, 3)
    monkeypatch.setattr(hdf5, "RUN_BYTES", 4 * 32 * 32 * 3)  # runs of consecutive rows split every 4 rows
    channels_first = np.zeros((len(rows) + 1, 3, 32, 32), dtype=np.uint8)  # rows land channels-first, as in PooledRows
    images.read_into(rows, channels_first.transpose(0, 2, 3, 1), np.arange(1, len(rows) + 1))
    np.testing.assert_array_equal(channels_first[1:], every[rows].transpose(0, 3, 1, 2))
    assert not channels_first[0].any()


def test_stream_mode_keeps_no_image_in_memory_and_auto_picks_memory_for_the_demo(fold_cfg, capsys):
    streamed = load_fold(resolve({**fold_cfg, "data_mode": "stream"}))
    assert streamed.mode == "stream" and streamed.labeled.images is None and streamed.target.images is None
    assert len(streamed.target.labels) == len(streamed.target.rows) > 0
    auto = load_fold(resolve(fold_cfg))
    assert auto.mode == "memory" and "data_mode auto: memory" in capsys.readouterr().out
    torch.testing.assert_close(streamed.target.labels, auto.target.labels)


def test_auto_streams_a_fold_larger_than_its_memory_budget(fold_cfg, capsys):
    data = load_fold(resolve({**fold_cfg, "data_memory_fraction": 1e-6}))
    assert data.mode == "stream"
    assert "data_mode auto: stream" in capsys.readouterr().out


GB = 10**9


def test_auto_charges_memory_mode_two_host_copies_and_one_device_copy():
    image_bytes = 1000 * 2**20
    assert mode_for(image_bytes, {"host": 2000 * 2**20})[0] == "memory"  # 2x fits exactly
    assert mode_for(image_bytes, {"host": 1999 * 2**20})[0] == "stream"  # 1x would fit, 2x does not
    assert mode_for(image_bytes, {"host": 4000 * 2**20, "device": 1000 * 2**20})[0] == "memory"
    chosen, line = mode_for(image_bytes, {"host": 4000 * 2**20, "device": 999 * 2**20})
    assert chosen == "stream"
    assert line == ("stream: fold images 1,000 MiB; memory mode would take host 2x = 2,000 MiB <= budget "
                    "4,000 MiB; device 1x = 1,000 MiB > budget 999 MiB")


@pytest.mark.parametrize("host, ranks, images, device, expected", [
    (24 * GB, 1, 24_000, None, "stream"),  # a DomainNet-shaped 224x224 fold on this 24 GB machine
    (24 * GB, 1, 6_000, None, "memory"),
    (24 * GB, 1, 1_797, "cuda", "memory"),  # the demo's images, were they 224x224
    (256 * GB, 8, 24_000, None, "memory"),  # 8 ranks on a 256 GB node: 8 GB each
    (256 * GB, 8, 586_575, None, "stream"),  # all of DomainNet
    (256 * GB, 1, 180_000, "cuda", "stream"),  # 27 GB of images: the host's 64 GB fits 2x, an 80 GB GPU's 20 GB not
])
def test_auto_at_the_shipped_fraction(monkeypatch, host, ranks, images, device, expected):
    monkeypatch.setattr(stream_module, "host_memory_bytes", lambda: host)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(ranks))

    class Properties:
        total_memory = 80 * GB

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Properties)
    budgets = memory_budgets(DEFAULTS["data_memory_fraction"], torch.device(device or "cpu"))
    assert budgets["host"] == int(0.25 * host / ranks) and ("device" in budgets) == (device == "cuda")
    assert mode_for(fold_image_bytes(images, 224, 224), budgets)[0] == expected


@pytest.mark.parametrize("num_workers", [0, 2])
def test_stream_batches_equal_memory_batches(fold_cfg, num_workers):
    cfg = resolve({**fold_cfg, "num_workers": num_workers})
    memory, stream = load_fold({**cfg, "data_mode": "memory"}), load_fold({**cfg, "data_mode": "stream"})
    cpu = torch.device("cpu")
    sampler = StepSampler(0, memory.labeled_sizes, len(memory.unlabeled), 12, 2, rank=1, world=2)
    from_memory = MemoryBatches(memory, sampler, cpu, 1, 2)
    from_shards = StreamBatches(stream, sampler, cpu, 1, 2, steps=10, num_workers=num_workers, prefetch=2)
    for step in (0, 1, 2, 7, 3):  # in order, then jumps (a resume) restart the reader at the asked step
        for a, b in zip(from_memory.step(step), from_shards.step(step)):
            if isinstance(a, torch.Tensor):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
            else:
                torch.testing.assert_close(a.labeled_index, b.labeled_index)
    chunks = list(from_shards.eval_chunks(stream.target, 64))
    assert [len(c[0]) for c in chunks[:-1]] == [64] * (len(chunks) - 1)
    for (a_images, a_labels), (b_images, b_labels) in zip(from_memory.eval_chunks(memory.target, 64), chunks, strict=True):
        torch.testing.assert_close(a_images, b_images, rtol=0, atol=0)
        torch.testing.assert_close(a_labels, b_labels)


def test_a_fold_trains_identically_in_both_modes(fold_cfg, tmp_path):
    records = {}
    for mode in ("memory", "stream"):
        out = tmp_path / mode
        run_fold({**fold_cfg, "out_dir": str(out), "data_mode": mode})
        records[mode] = [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
                         for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    assert records["stream"] == records["memory"] and len(records["memory"]) == 2


def test_jpeg_storage_round_trips_close_to_raw_and_trains_in_both_modes(prepared_demo, prep, tmp_path):
    out = tmp_path / "jpeg"
    status, err = prep(prepared_demo.root, out, "--image-size", "32", "--storage", "jpeg")
    assert status == 0, err
    write_manifest(out)
    raw_bytes = sum(p.stat().st_size for p in prepared_demo.shards_dir.glob("*.h5"))
    assert sum(p.stat().st_size for p in out.glob("*.h5")) < raw_bytes
    raw, jpeg = DomainImages(prepared_demo.manifest, "photo"), DomainImages(out / "manifest.json", "photo")
    (raw_images, raw_labels), (jpeg_images, jpeg_labels) = raw.read_all(), jpeg.read_all()
    np.testing.assert_array_equal(jpeg_labels, raw_labels)
    assert jpeg.paths == raw.paths
    assert np.abs(jpeg_images.astype(int) - raw_images).mean() < 4  # JPEG quality 90, no chroma subsampling
    np.testing.assert_array_equal(jpeg.read_rows([7, 2, 2]), jpeg_images[[7, 2, 2]])
    cfg = resolve({"manifest": str(out / "manifest.json"), "split": str(tmp_path / "split.json"),
                   "target_domain": "mono", "out_dir": str(tmp_path / "run")})
    assert splits_main(["--manifest", cfg["manifest"], "--seed", "0", "--labels-per-class", "10",
                        "--out", cfg["split"]]) == 0
    memory, stream = load_fold({**cfg, "data_mode": "memory"}), load_fold({**cfg, "data_mode": "stream"})
    sampler = StepSampler(0, memory.labeled_sizes, len(memory.unlabeled), 12, 1)
    cpu = torch.device("cpu")
    for a, b in zip(MemoryBatches(memory, sampler, cpu, 0, 1).step(3)[1:],
                    StreamBatches(stream, sampler, cpu, 0, 1, steps=5, num_workers=1, prefetch=2).step(3)[1:]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
