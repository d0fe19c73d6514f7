"""TensorFlow set-up: the thread budget of a job."""

import os
import subprocess
import sys

import pytest

from ferflow.tfsetup import thread_budget

PROBE = ("from ferflow.tfsetup import setup; tf, _ = setup(); "
         "print(tf.config.threading.get_intra_op_parallelism_threads(), "
         "tf.config.threading.get_inter_op_parallelism_threads())")


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), ("", None), ("0", None),
                                             ("four", None), (None, None)])
def test_thread_budget_reads_omp_num_threads(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert thread_budget() == expected


@pytest.mark.parametrize("omp, expected", [("1", "1 1"), (None, "0 0")])
def test_tensorflow_keeps_to_the_jobs_threads(omp, expected):
    """Snakemake sets OMP_NUM_THREADS to a job's threads; TensorFlow must keep to them
    (unset: TensorFlow's default, every core)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp:
        env["OMP_NUM_THREADS"] = omp
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[-2] == expected
