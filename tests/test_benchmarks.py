"""benchmarks/bench_epoch.py: the script runs and reports every pipeline, and the pipelines compute the same thing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlib.data import MnistArrays

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "bench_epoch.py"


@pytest.fixture(scope="module")
def small(sample_data: MnistArrays) -> MnistArrays:
    """640 training and 128 test digits of the sample: enough for a few batches of every pipeline."""
    d = sample_data
    return MnistArrays(
        d.train_images[:640], d.train_labels[:640], d.test_images[:128], d.test_labels[:128], d.source, d.origin
    )


def test_quick_run_prints_the_table_and_writes_json_with_every_pipeline(tmp_path):
    cmd = [
        sys.executable, str(SCRIPT), "--quick", "--source", "sample", "--subset", "512", "--devices", "cpu",
        "--batch-sizes", "64", "--data-dir", str(tmp_path / "data"), "--json-dir", str(tmp_path),
    ]
    (tmp_path / "data").mkdir()  # a data folder given must exist
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "vs template" in out and "vs plain" in out and "extrapolated" in out
    for name in ("template", "torchvision", "plain", "mnistlib"):
        assert f"\n{name} " in out, f"no table row for {name}:\n{out}"

    (written,) = tmp_path.glob("results-cpu-*.json")  # a file of its own: results-<device>-<machine>-<date>.json
    payload = json.loads(written.read_text())
    assert written.name.endswith(f"cores-{payload['started'][:10]}.json")
    assert payload["machine"]["torch"] == torch.__version__
    assert payload["machine"]["cpu"] and payload["machine"]["torch_threads"] >= 1
    rows = payload["rows"]
    assert [r["pipeline"] for r in rows] == ["template", "torchvision", "plain", "mnistlib"]
    for r in rows:
        assert r["device"] == "cpu" and r["batch_size"] == 64 and r["extrapolated"] is True
        assert r["seconds_per_epoch"] > 0 and r["images_per_s"] > 0
        assert r["x_vs_template"] > 0 and r["x_vs_plain"] > 0
        assert len(r["round_s"]) == 2 and r["seconds_per_epoch"] == min(r["round_s"])  # lower middle of two
    assert rows[0]["x_vs_template"] == pytest.approx(1.0) and rows[2]["x_vs_plain"] == pytest.approx(1.0)
    # The PNG files were built once, named {id}_{label}.png, and nothing temporary was left behind.
    pngs = list((tmp_path / "data" / "bench_png").rglob("*"))
    assert not [p for p in pngs if p.name.endswith(".tmp")]
    assert sum(p.suffix == ".png" for p in pngs) == 512 + 512 // 6


def test_png_dataset_round_trips_pixels_and_labels_and_skips_existing_files(bench, small, tmp_path):
    folder = tmp_path / "png"
    images, labels = small.train_images[:20], small.train_labels[:20]
    assert bench.write_pngs(images, labels, folder) == 20
    assert bench.write_pngs(images, labels, folder) == 0  # already there: nothing rewritten
    (folder / "README").write_text("not a digit")
    dataset = bench.PngDigits(folder, transform=lambda img: torch.from_numpy(np.asarray(img).copy()))
    assert len(dataset) == 20
    for i in (0, 7, 19):
        pixels, label = dataset[i]
        assert torch.equal(pixels, images[i]) and label == int(labels[i])


def test_pipelines_agree_on_the_first_batches_from_the_same_weights(bench, small, tmp_path):
    """The fast path must not change results: same batches, same weights, same losses."""
    files = bench.prepare_inputs(small, tmp_path, bench.PIPELINES, log=lambda _msg: None)
    state = bench.initial_state(seed=0)
    cpu = torch.device("cpu")
    first = {}
    five = {}
    for name in bench.PIPELINES:
        pipeline = bench.PIPELINE_CLASSES[name](small, cpu, 64, seed=0, files=files)
        first[name] = bench.first_batch_loss(pipeline, state)
        model, optimizer = bench.fresh_model(pipeline, state)
        five[name] = pipeline.train_epoch(model, optimizer, torch.nn.CrossEntropyLoss(), 1, max_batches=5)[0]
    assert 1.5 < first["plain"] < 3.0  # near ln(10) for an untrained model
    for name in bench.PIPELINES:
        assert first[name] == pytest.approx(first["plain"], abs=1e-4), first
        assert five[name] == pytest.approx(five["plain"], abs=1e-4), five


def test_mnistlib_pipeline_runs_channels_last_like_fit(bench, small):
    pipeline = bench.MnistlibPipeline(small, torch.device("cpu"), 64)
    model, _ = bench.fresh_model(pipeline, bench.initial_state(0))
    assert model.c1.weight.is_contiguous(memory_format=torch.channels_last)
    plain = bench.PlainPipeline(small, torch.device("cpu"), 64)
    model, _ = bench.fresh_model(plain, bench.initial_state(0))
    assert model.c3.weight.is_contiguous() and not model.c3.weight.is_contiguous(memory_format=torch.channels_last)


def test_extrapolated_rows_scale_to_a_whole_epoch(bench, small):
    pipeline = bench.PlainPipeline(small, torch.device("cpu"), 64)
    row = bench.time_pipeline(pipeline, bench.initial_state(0), epochs=2, max_batches=2, warmup_batches=1)
    assert row.extrapolated and len(row.epochs) == 2
    assert row.steady_epoch_s == pytest.approx(row.epochs[1]["total_s"])
    assert row.images_per_s == pytest.approx((640 + 128) / row.seconds_per_epoch)
    full = bench.time_pipeline(pipeline, bench.initial_state(0), epochs=1, max_batches=None, warmup_batches=0)
    assert not full.extrapolated and full.steady_epoch_s is None


def test_median_row_keeps_the_middle_round_and_lists_all(bench):
    rows = []
    for seconds in (5.0, 3.0, 9.0):
        row = bench.Row("plain", "cpu", 64, 64, "", False, None, 0.0)
        row.seconds_per_epoch = seconds
        rows.append(row)
    middle = bench.median_row(rows)
    assert middle.seconds_per_epoch == 5.0 and middle.round_s == [5.0, 3.0, 9.0]
    assert rows[0].round_s == []  # the rounds themselves are left as they were


def test_sweep_benchmark_times_both_configurations_on_the_same_runs(bench_sweep, tmp_path, capsys):
    from mnistfiles.io import read_json
    from mnistreport.readme import bench_block

    assert bench_sweep.main(["--runs", "2", "--rounds", "1", "--epochs", "1", "--subset", "600", "--cores", "2",
                             "--source", "sample", "--json-dir", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("results-sweep-*-2cores-*.json")  # results-sweep-<machine>-<cores>cores-<date>.json
    payload = read_json(written)
    assert [(r["processes"], r["threads"]) for r in payload["rows"]] == [(1, 2), (2, 1)]
    assert payload["ratio"] == payload["rows"][1]["runs_per_hour"] / payload["rows"][0]["runs_per_hour"]
    assert "runs per hour" in capsys.readouterr().out
    block = bench_block(tmp_path)
    assert f"**{payload['ratio']:.2f}x**" in block and "| 2 processes x 1 thread |" in block


def test_benchmarks_write_a_new_file_and_never_overwrite_one(bench, bench_sweep, tmp_path):
    """`make bench` on any machine adds a file; a committed result (same machine, same day) stays as it was."""
    machine = {"cpu": "AMD EPYC 7B13", "cores_usable": 2, "cores": 2}
    first = bench.result_path(tmp_path, "cpu", machine, "2026-12-01T10:00:00+0000")
    assert first.name == "results-cpu-amd-epyc-7b13-2cores-2026-12-01.json"
    first.write_text("{}")
    assert bench.result_path(tmp_path, "cpu", machine, "2026-12-01T11:00:00+0000").name.endswith("-2026-12-01-2.json")
    gpu = bench.result_path(tmp_path, "cuda", {**machine, "gpu": "NVIDIA H200"}, "2026-12-01T10:00:00+0000")
    assert gpu.name == "results-cuda-nvidia-h200-2026-12-01.json"
    sweep = bench_sweep.result_path(tmp_path, machine, "2026-12-01T10:00:00+0000")
    assert sweep.name == "results-sweep-amd-epyc-7b13-2cores-2026-12-01.json"
    sweep.write_text("{}")
    assert bench_sweep.result_path(tmp_path, machine, "2026-12-01T12:00:00+0000") != sweep
