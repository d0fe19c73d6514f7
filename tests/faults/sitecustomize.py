"""Fault injection for tests/test_faults.py, loaded by every Python process of a workflow
run whose PYTHONPATH starts with this folder (Snakemake and each job it starts).

FERFLOW_FAULT="half:PART" or "after:PART": when a process renames a finished temporary
onto an output whose path contains PART (ferflow writes every output so:
ferflow.io.atomic_path), it first truncates the temporary to half its bytes ("half":
an output half written) or first completes the rename ("after": the output whole, the job
not yet finished); then it writes the output's path to FERFLOW_FAULT_MARKER and waits to
be killed. Nothing else changes. Never on the library's path outside these tests."""

import os
import time

_SPEC = os.environ.get("FERFLOW_FAULT", "")
if _SPEC:
    _MODE, _PART = _SPEC.split(":", 1)
    _MARKER = os.environ["FERFLOW_FAULT_MARKER"]
    _replace = os.replace

    def _faulty_replace(src, dst, *args, **kwargs):
        target = os.fspath(dst)
        if _PART not in target or os.path.exists(_MARKER):
            return _replace(src, dst, *args, **kwargs)
        if _MODE == "half":
            os.truncate(src, os.path.getsize(src) // 2)
        else:
            _replace(src, dst, *args, **kwargs)
        with open(_MARKER, "w") as f:
            f.write(target)
        time.sleep(3600)  # the test kills the whole process group now

    os.replace = _faulty_replace
