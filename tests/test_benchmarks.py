"""The benchmarks' own parsing (the benchmarks themselves print figures, not asserts)."""

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

LOG = """Select jobs to execute...
Execute 2 jobs...

[Mon Nov 30 09:48:23 2026]
localrule ingest:
    output: results/x/data/faces.npz
    jobid: 1
    resources: tmpdir=/tmp

[Mon Nov 30 09:48:24 2026]
rule train:
    output: results/x/models/a/model.keras
    jobid: 7
    wildcards: model=a
[Mon Nov 30 09:48:30 2026]
Finished jobid: 1 (Rule: ingest)
1 of 3 steps (33%) done

[Mon Nov 30 09:48:31 2026]
rule train:
    jobid: 8
    wildcards: model=b
[Mon Nov 30 09:50:04 2026]
Finished jobid: 7 (Rule: train)
[Mon Nov 30 09:50:14 2026]
Finished jobid: 8 (Rule: train)
"""


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_run_benchmark_reads_job_seconds_from_the_snakemake_log():
    bench = _load("bench_default_run")
    assert bench.job_seconds(LOG) == {"ingest": [7.0], "train": [100.0, 103.0]}


@pytest.mark.slow
def test_schedule_benchmark_trains_the_named_models_with_the_overrides(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # --threads sets it: undone after
    bench = _load("bench_schedule")
    cfg = {"synthetic": {"train_per_class": 8, "public_per_class": 2, "private_per_class": 2},
           "models": {"d": {"arch": "dnn_seed001", "epochs": 5}, "e": {"arch": "small_cnn"}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert bench.main(["d", "--config", str(path), "--set", "epochs=2", "batch_size=8",
                       "--synthetic", "pose_jitter=0", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "'pose_jitter': 0" in out and "'train_per_class': 8" in out
    m = re.search(r"^d: val acc by epoch \[([^\]]*)\]", out, re.M)
    assert m and len(m.group(1).split(",")) == 2, out  # --set epochs=2 beat the entry's 5
    assert not re.search(r"^e:", out, re.M)  # only the named model
    assert os.environ["OMP_NUM_THREADS"] == "1"  # what ferflow.tfsetup reads
    with pytest.raises(SystemExit, match="expected key=value"):
        bench.main(["d", "--config", str(path), "--set", "epochs"])


@pytest.mark.slow
def test_train_benchmark_on_windows_skips_flatten_heads(capsys):
    _load("bench_train").main(["--images", "32", "--batch-size", "16", "--repeats", "1",
                      "--matmul-size", "128", "--crop", "40", "--arch", "small_cnn", "seed000"])
    out = capsys.readouterr().out
    assert "32 images per epoch, 40x40 windows" in out
    assert re.search(r"^small_cnn\s+94,247\s+\d+\.\d", out, re.M)
    assert re.search(r"^seed000\s+skipped: its weights depend on the input size", out, re.M)
    with pytest.raises(SystemExit):  # a window must fit in the 48x48 face
        _load("bench_train").main(["--crop", "64"])
    assert "--crop: 64 is not in 16-48" in capsys.readouterr().err


@pytest.mark.slow
def test_train_benchmark_in_bfloat16_compares_with_a_bfloat16_matmul(keras, capsys):
    try:
        _load("bench_train").main(["--images", "32", "--batch-size", "16", "--repeats", "1",
                                   "--matmul-size", "128", "--arch", "small_cnn",
                                   "--precision", "bfloat16"])
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = capsys.readouterr().out
    assert re.search(r"^dense bfloat16 matmul 128\^2: \d+ GFLOP/s", out, re.M)
    assert re.search(r"^small_cnn\s+94,247\s+\d+\.\d", out, re.M)


@pytest.mark.slow
def test_batch_benchmark_times_every_size_in_every_round(keras, capsys):
    _load("bench_batch").main(["--arch", "small_cnn", "--sizes", "16", "32", "--images", "64",
                               "--rounds", "2"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\d+) \| (\d+), (\d+) \| \d+ \| ([\d.]+)x", out, re.M)
    assert [r[0] for r in rows] == ["16", "32"] and rows[0][3] == "1.00"


def test_recipe_benchmark_counts_epochs_of_the_flip_doubled_set(tmp_path, capsys):
    """A run on the originals (alternate flip: 50 of 100 doubled images an epoch) reaches
    0.84 in its 3rd epoch = 1.5 doubled-set epochs; a run on the doubled set never does."""
    import numpy as np
    import pandas as pd

    bench = _load("bench_recipe")
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "train_flipped.npz", labels=np.zeros(100, np.int64))
    for run, images, acc in (("alt", 50, [0.5, 0.8, 0.85, 0.86]), ("flip", 100, [0.7, 0.83])):
        d = tmp_path / "models" / run
        d.mkdir(parents=True)
        pd.DataFrame({"epoch": range(1, len(acc) + 1), "val_accuracy": acc}).to_csv(
            d / "history.csv", index=False)
        (d / "training.json").write_text(json.dumps({
            "train_images": images, "seconds_per_epoch": [10.0] * len(acc),
            "machine": {"cpu": "AMD EPYC", "isa": ["AVX2"], "threads": 1}}))
    (tmp_path / "models" / "unfinished").mkdir()
    rows = {r["run"]: r for r in bench.rows(str(tmp_path), 0.84)}
    assert set(rows) == {"alt", "flip"}
    assert rows["alt"]["reached"] == 1.5 and rows["alt"]["seconds"] == 30.0
    assert rows["alt"]["epochs"] == 2.0 and rows["alt"]["best_epoch"] == 2.0
    assert rows["flip"]["reached"] is None and rows["flip"]["best"] == 0.83
    bench.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| alt | 2 | 1.5 | 30 | 0.860 (2) | 40 | AMD EPYC (AVX2), 1 thread(s) |" in out
    assert "| flip | 2 | not reached |" in out


def test_folder_benchmark_runs_both_readers(capsys):
    _load("bench_folder").main(["--faces", "70", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "70 " in out and "ferflow / PIL loop:" in out


@pytest.mark.slow
def test_threads_benchmark_runs_each_setting_in_a_process_of_its_own(capsys):
    """Every round times each intra/inter setting in its own child, which runs with those
    thread pools (TensorFlow's own report); the table has a row per setting."""
    bench = _load("bench_threads")
    argv = ["--arch", "small_cnn", "--crop", "32", "--batch-size", "16", "--images", "64",
            "--epochs", "1", "--rounds", "2", "--matmul-size", "64", "--settings", "2/2", "1/1"]
    bench.main(argv)
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\d/\d) \| (\d+), (\d+) \| \d+ \| ([\d.]+)x .* \| (\d+)% \|$", out, re.M)
    assert [r[0] for r in rows] == ["2/2", "1/1"] and rows[0][3] == "1.00", out
    args = bench.argparse.Namespace(arch="small_cnn", crop=32, batch_size=16, images=64,
                                    epochs=1, pipeline="full", matmul_size=64)
    assert bench.run_child(args, (1, 2))["threads"] == [1, 2]
    with pytest.raises(SystemExit):
        bench.main(["--settings", "2-1"])
