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


XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
"""
EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2 fma\n"


def test_machine_names_the_cpu_its_instruction_sets_and_onednn(monkeypatch):
    from ferflow.tfsetup import cpu_summary, machine_line

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    m = cpu_summary(XEON)
    assert m == {"cpu": "Intel(R) Xeon(R) Processor", "isa": ["AVX2", "AVX-512", "AVX-512 BF16",
                                                              "AMX"],
                 "onednn": True, "onednn_max_cpu_isa": None, "threads": 1}
    assert machine_line(m) == ("Intel(R) Xeon(R) Processor (AVX2 AVX-512 AVX-512 BF16 AMX); "
                               "oneDNN on; 1 thread; no GPU")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    e = cpu_summary(EPYC)
    assert e["isa"] == ["AVX2"] and e["onednn"] is False
    assert machine_line(e, "NVIDIA H200") == ("AMD EPYC 7B13 (AVX2); oneDNN off "
                                              "(ONEDNN_MAX_CPU_ISA=SSE41); 1 thread; NVIDIA H200")
    assert machine_line({**e, "threads": 2}).endswith("; 2 threads; no GPU")
    assert cpu_summary("")["cpu"] == "unknown"
