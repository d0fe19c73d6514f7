"""Faults a run survives: Snakemake's whole process group killed (SIGKILL) at events of
the run, resumed as the README says; a results folder whose disk fills up.

The kill points are events, not times, so that they land in the same places on every
CPU: a job's start (Snakemake's "rule NAME:" line), a training checkpoint written (its
file appears), an output half written or written whole before its job finished (the
fault hook tests/faults/sitecustomize.py, loaded by every Python process of the run)."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import unavailable
from tests.helpers import snakemake, snakemake_cmd

ROOT = Path(__file__).resolve().parents[1]
FAULTS = ROOT / "tests" / "faults"
pytestmark = pytest.mark.slow

CONFIG = {
    "dataset": "k",
    "synthetic": {"seed": 3, "train_per_class": 20, "public_per_class": 4,
                  "private_per_class": 4},
    "split": {"validation_fraction": 0.2, "seed": 1},
    "training": {"epochs": 3, "batch_size": 16, "seed": 0, "deterministic": True},
    "models": {"cnn": {"arch": "small_cnn"}, "dnn": {"arch": "dnn_seed003", "epochs": 2}},
    "ensembles": {"both": {"members": ["cnn", "dnn"], "method": "mean"}},
}
R = "results/k"

# (what, kind, argument), in the order the run reaches them; each kill is followed by the
# README's resume (snakemake --unlock, then the same command with --rerun-incomplete).
# Each event lies downstream of the job the kill before it cut short (or in that job), so
# it is still to come whatever order Snakemake picks among the jobs that are ready.
KILLS = [
    ("the first job started", "rule", "ingest"),
    ("the split half written", "half", f"{R}/data/split.npz"),
    ("cnn's checkpoint after epoch 1 written", "file", f"{R}/checkpoints/cnn/epoch-0001.keras"),
    ("cnn's checkpoint after epoch 2 written", "file", f"{R}/checkpoints/cnn/epoch-0002.keras"),
    ("cnn's model half written", "half", f"{R}/models/cnn/model.keras"),
    ("cnn's predictions written, their job unfinished", "after", f"{R}/predictions/cnn.npz"),
    ("the ensemble's predictions half written", "half", f"{R}/predictions/both.npz"),
    ("the ensemble's metrics written, its job unfinished", "after",
     f"{R}/ensemble/both/metrics.json"),
    ("the accuracy table half written", "half", f"{R}/tables/accuracy.csv"),
    ("the report's job started", "rule", "report"),
]
# what records time, left out of the comparison (everything else must be identical)
TIMED_COLUMNS = {"train_seconds"}
TIMED_KEYS = {"seconds", "seconds_per_epoch", "images_per_second"}
NOT_COMPARED = ("logs/", "benchmarks/", "MODEL_CARD.md", "report/index.html", "model.keras",
                ".md")  # logs, cards and the report state times; .md tables train_seconds;
# a .keras file records when it was saved (its weights are compared through predictions)


def _env(fault=None, marker=None):
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([str(FAULTS), *sys.path])}
    env.pop("FERFLOW_FAULT", None)
    if fault:
        env["FERFLOW_FAULT"], env["FERFLOW_FAULT_MARKER"] = fault, str(marker)
    return env


def _run_until(workdir, kind, arg, marker, timeout=600):
    """Start the run (resuming), wait for the event, kill Snakemake's whole process group."""
    fault = f"{kind}:{arg}" if kind in ("half", "after") else None
    proc = subprocess.Popen(snakemake_cmd(workdir, "--rerun-incomplete", cores=1),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(fault, marker), start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()

    def happened():
        if kind == "rule":
            return any(re.match(rf"(local)?rule {arg}:", line) for line in lines)
        if kind == "file":
            return (workdir / arg).exists()
        return marker.exists()

    deadline = time.monotonic() + timeout
    while not happened():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before {kind} {arg}:\n"
                                 + "".join(lines))
        assert time.monotonic() < deadline, f"no {kind} {arg} in {timeout} s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=10)
    time.sleep(0.2)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _in_group(p, proc.pid)]
    assert not left, f"processes of the killed group live on: {left}"
    return "".join(lines)


def _in_group(proc_dir, pgid):
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0] != "Z" and int(fields[2]) == pgid  # state, ppid, pgrp


def _compared(results: Path) -> dict:
    """Every compared output file -> its content in a comparable form."""
    out = {}
    for p in sorted(results.rglob("*")):
        rel = str(p.relative_to(results))
        if not p.is_file() or any(x in rel for x in NOT_COMPARED):
            continue
        if p.suffix == ".csv":
            df = pd.read_csv(p)
            out[rel] = df.drop(columns=[c for c in df.columns if c in TIMED_COLUMNS])
        elif p.suffix == ".json":
            data = yaml.safe_load(p.read_text())
            out[rel] = {k: v for k, v in data.items() if k not in TIMED_KEYS}
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                out[rel] = {k: z[k] for k in z.files}
        else:
            out[rel] = p.read_bytes()
    return out


def _assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for rel in a:
        x, y = a[rel], b[rel]
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, obj=rel)
        elif rel.endswith(".npz"):
            assert sorted(x) == sorted(y), rel
            for k in x:
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{rel}: {k}")
        else:
            assert x == y, rel


def test_a_run_killed_at_any_event_resumes_to_the_uninterrupted_outputs(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    for d in (ref, cut):
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    snakemake(ref, cores=1, env=_env())
    survived = []
    for i, (what, kind, arg) in enumerate(KILLS):
        _run_until(cut, kind, arg, tmp_path / f"marker-{i}")
        snakemake(cut, "--unlock", cores=1, env=_env())  # as the README says
        survived.append(what)
    res = snakemake(cut, "--rerun-incomplete", cores=1, env=_env())
    assert "Nothing to be done" not in res.stdout + res.stderr  # the report was still due
    print(f"faults survived: {len(survived)} of {len(KILLS)}")
    assert len(survived) == len(KILLS) >= 8
    _assert_same(_compared(ref / R), _compared(cut / R))
    # nothing partial left: no temporary, no Snakemake incomplete marker, nothing to redo
    assert not [p for p in (cut / R).rglob(".*.tmp-*")]
    assert not list((cut / ".snakemake" / "incomplete").rglob("*"))
    dry = snakemake(cut, "-n", cores=1, env=_env())
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.fixture
def small_disk(tmp_path):
    """results/ on a tmpfs of 256 KiB (root only)."""
    results = tmp_path / "results"
    results.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(results)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs ({mounted.stderr.strip()})", "FERFLOW_REQUIRE_ROOT")
    yield results
    subprocess.run(["umount", "-l", str(results)], check=True)


def test_a_full_disk_is_one_line_naming_the_file_and_a_rerun_with_space_completes(
        tmp_path, small_disk):
    cfg = {**CONFIG, "synthetic": {**CONFIG["synthetic"], "train_per_class": 60}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    target = f"{R}/data/split.npz"
    res = snakemake(tmp_path, target, cores=1, check=False)
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if line.startswith("ferflow: error:")]
    assert len(errors) == 1, res.stderr
    assert re.fullmatch(rf"ferflow: error: {R}/data/\w+\.npz: cannot write it: "
                        "No space left on device", errors[0]), errors[0]
    written = [p for p in small_disk.rglob("*") if p.is_file()]
    assert all(p.suffix == ".log" for p in written), written  # no output, no temporary
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    snakemake(tmp_path, target, cores=1)
    with np.load(tmp_path / target, allow_pickle=False) as z:
        assert len(z["train"]) > 0
