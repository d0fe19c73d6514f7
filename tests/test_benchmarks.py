"""The benchmarks' own parsing (the benchmarks themselves print figures, not asserts)."""

import importlib.util
from pathlib import Path

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


def test_default_run_benchmark_reads_job_seconds_from_the_snakemake_log():
    spec = importlib.util.spec_from_file_location(
        "bench_default_run", ROOT / "benchmarks" / "bench_default_run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.job_seconds(LOG) == {"ingest": [7.0], "train": [100.0, 103.0]}
