"""The default run a newcomer sees: its wall time and where the time goes.

Runs the workflow with a config (default: config/config.yaml, the built-in synthetic
faces) from an empty results directory in a temporary working directory, then prints
the wall time, the job-seconds per rule (from the timestamps Snakemake logs when each
job starts and finishes; 1 s resolution) and the accuracy table of the run.

    .venv/bin/python benchmarks/bench_default_run.py [--config config/config.yaml] [--cores 2]
        [--keep DIR]

--keep runs in DIR (new or empty) and keeps it, to look at the figures or rerun there.

Job-seconds add up to more than the wall time when jobs run side by side.
"""

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def job_seconds(log: str) -> dict[str, list[float]]:
    """rule -> the seconds of each of its jobs, from a Snakemake log."""
    start, rule_of, out = {}, {}, defaultdict(list)
    stamp, pending = None, None
    for line in log.splitlines():
        m = STAMP.match(line.strip())
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            pending = (m.group(1), stamp)
            continue
        m = re.match(r"^\s+jobid: (\d+)$", line)
        if m and pending:
            rule_of[m.group(1)], start[m.group(1)] = pending
            pending = None
            continue
        m = re.match(r"^Finished jobid: (\d+)", line)
        if m and m.group(1) in start and stamp is not None:
            out[rule_of[m.group(1)]].append((stamp - start[m.group(1)]).total_seconds())
    return dict(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--cores", default="2")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR (new or empty) and keep it")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    dataset = cfg.get("dataset", "synthetic")
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        if any(Path(args.keep).iterdir()):
            ap.error(f"--keep {args.keep}: not empty")
    with (contextlib.nullcontext(str(Path(args.keep).resolve())) if args.keep
          else tempfile.TemporaryDirectory()) as tmp:
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
               tmp, "--cores", args.cores, "--configfile", str(Path(args.config).resolve())]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
            return res.returncode
        per_rule = job_seconds(res.stdout + "\n" + res.stderr)
        table = Path(tmp, "results", dataset, "tables", "accuracy.md")
        n_jobs = sum(len(v) for v in per_rule.values())
        print(f"config: {args.config}; cores: {args.cores}")
        print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min), {n_jobs} jobs")
        print(f"{'rule':<20}{'jobs':>5}{'job-s':>8}{'mean s':>8}")
        for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
            print(f"{rule:<20}{len(secs):>5}{sum(secs):>8.0f}{sum(secs) / len(secs):>8.1f}")
        print(f"{'all':<20}{n_jobs:>5}{sum(map(sum, per_rule.values())):>8.0f}")
        if table.exists():
            print()
            print(table.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
