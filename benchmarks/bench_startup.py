"""What the SLURM executor plugin would cost every local snakemake start.

With snakemake-executor-plugin-slurm installed, snakemake imports it at every start
(even ``--version``), and the import runs ``scontrol show config`` (it waits for the
controller when SLURM client tools and a slurm.conf are there but no controller
answers). ferflow keeps the plugin out of the local environment (.venv); only
.venv-slurm has it. This measures, interleaved, the median wall time of:

- ``snakemake --version`` (snakemake's bare start-up) in .venv and in .venv-slurm;
- a local no-op run (``snakemake --cores 2`` with every output up to date: the cost
  of ``make run`` when nothing changed) in .venv, and the same in .venv-slurm.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--slurm-conf PATH]

``--slurm-conf`` points SLURM_CONF at a cluster's config whose controller is down
(the state of a machine with SLURM client tools after tools/slurm-cluster.sh down).
Without .venv-slurm only the local rows are measured.

``--run-dir DIR`` adds the no-op run of a finished run in DIR (``make run``'s default
config unless ``--run-config``), and the no-op of a one-rule workflow with one param
(snakemake's own floor: its DAG, persistence and params hashing, without ferflow).

``--compare CHECKOUT`` adds the no-op run of another ferflow checkout (an older commit,
say) on its own finished default run (``make run`` there, or ``PYTHONPATH=CHECKOUT/src
.venv/bin/snakemake --cores all -d CHECKOUT``), its library imported from
``CHECKOUT/src``: before and after in one interleaved run.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def tiny_workdir(path: Path) -> None:
    """A one-model run, built once, so that later runs have nothing to do."""
    cfg = {"dataset": "b", "synthetic": {"train_per_class": 10, "public_per_class": 2,
                                         "private_per_class": 2},
           "models": {"dnn": {"arch": "dnn_seed001", "epochs": 1}}, "ensembles": {},
           "ablations": {}, "comparisons": {}, "analysis": {"models": []}}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run(_cmd(ROOT / ".venv", path, "--cores", "2"), check=True,
                   capture_output=True)


def _cmd(venv: Path, workdir: Path, *args) -> list[str]:
    return [str(venv / "bin" / "snakemake"), "-s", str(ROOT / "Snakefile"), "--directory",
            str(workdir), "--configfile", str(workdir / "config.yaml"), *args]


def timed(cmd, env, noop: bool = False) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    if noop and "Nothing to be done" not in res.stdout + res.stderr:
        raise SystemExit(f"not a no-op (some output is out of date): {' '.join(cmd)}\n"
                         f"{res.stderr[-2000:]}")
    return seconds


FLOOR = """rule all:
    input: "a.txt"

rule a:
    output: "a.txt"
    params: x=1
    log: "a.log"
    shell: "echo {params.x} > {output}; touch {log}"
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slurm-conf")
    ap.add_argument("--run-dir", help="a finished run's directory: its no-op run is timed too")
    ap.add_argument("--run-config", help="the config of --run-dir (default: the built-in one)")
    ap.add_argument("--compare", help="another ferflow checkout with a finished default run")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.slurm_conf:
        env["SLURM_CONF"] = args.slurm_conf
    venvs = {"local .venv": ROOT / ".venv", "cluster .venv-slurm": ROOT / ".venv-slurm"}
    venvs = {k: v for k, v in venvs.items() if (v / "bin" / "snakemake").exists()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "tiny"
        work.mkdir()
        tiny_workdir(work)
        cases = {}
        for label, venv in venvs.items():
            cases[f"snakemake --version, {label}"] = [str(venv / "bin" / "snakemake"), "--version"]
            cases[f"no-op run, {label}"] = _cmd(venv, work, "--cores", "2")
        local = str(ROOT / ".venv" / "bin" / "snakemake")
        if args.run_dir:
            floor = Path(tmp) / "floor"
            floor.mkdir()
            (floor / "Snakefile").write_text(FLOOR)
            subprocess.run([local, "-d", str(floor), "--cores", "1"], cwd=floor, check=True,
                           capture_output=True)
            cases["no-op of a one-rule workflow (snakemake's floor), local .venv"] = [
                local, "-s", str(floor / "Snakefile"), "-d", str(floor), "--cores", "2"]
            run = [local, "-s", str(ROOT / "Snakefile"), "-d", args.run_dir, "--cores", "2"]
            if args.run_config:
                run += ["--configfile", args.run_config]
            cases[f"no-op run of {args.run_dir}, local .venv"] = run
        envs = {name: env for name in cases}
        if args.compare:
            other = Path(args.compare).resolve()
            name = f"no-op run of {other} (its own src/), local .venv"
            cases[name] = [local, "-s", str(other / "Snakefile"), "-d", str(other), "--cores", "2"]
            envs[name] = {**env, "PYTHONPATH": str(other / "src")}
        times = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, envs[name], noop=name.startswith("no-op")))
    med = {name: statistics.median(t) for name, t in times.items()}
    bare = med["snakemake --version, local .venv"]
    print(f"SLURM_CONF={env.get('SLURM_CONF', '(unset)')}; medians of {args.repeats} "
          "interleaved runs")
    print("| command | median s | min..max s | vs bare start-up |")
    print("| --- | ---: | --- | ---: |")
    for name, t in times.items():
        print(f"| {name} | {med[name]:.2f} | {min(t):.2f}..{max(t):.2f} | {med[name] / bare:.2f}x |")


if __name__ == "__main__":
    main()
